import { Module } from '@nestjs/common';
import { WorkersModule } from '@keel/workers';
import { ReportsController } from './reports.controller';
import { ValidationConsumer } from './validation.consumer';
import { ValidationRepository } from './validation.repository';
import { ValidationService } from './validation.service';

/** Validation of ingested dataset versions and the reports it writes. */
@Module({
  imports: [WorkersModule],
  controllers: [ReportsController],
  providers: [ValidationRepository, ValidationService, ValidationConsumer],
})
export class ReportsModule {}
