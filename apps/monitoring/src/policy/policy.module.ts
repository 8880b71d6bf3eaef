import { Module } from '@nestjs/common';
import { PolicyMetrics } from './policy.metrics';
import { RetrainDecisionsRepository } from './retrain-decisions.repository';
import { RetrainPolicyConsumer } from './retrain-policy.consumer';
import { RetrainPolicyController } from './retrain-policy.controller';
import { RetrainPolicyService } from './retrain-policy.service';

/** The retrain policy: signals in, decisions recorded, training requests out. */
@Module({
  controllers: [RetrainPolicyController],
  providers: [RetrainDecisionsRepository, RetrainPolicyService, RetrainPolicyConsumer, PolicyMetrics],
  exports: [RetrainPolicyService],
})
export class PolicyModule {}
