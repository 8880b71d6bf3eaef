import { EnvironmentsController } from '../environments/environments.controller';
import { StagingValidator } from '../environments/staging-validator';
import { ROLLOUT_ANALYSIS } from './rollout-analysis';
import { RolloutDriver } from './rollout-driver';
import { RolloutObservationsStore } from './rollout-observations';
import { RolloutsController } from './rollouts.controller';
import { RolloutsService } from './rollouts.service';
import { SignalAnalysis } from './signal-analysis';

/**
 * Rollouts and environments live beside the models they move (registration starts rollouts, rollouts move aliases),
 * so they are provided by the models module rather than a module of their own that would import it in a cycle.
 */
export const rolloutProviders = [
  RolloutsService,
  RolloutDriver,
  RolloutObservationsStore,
  StagingValidator,
  { provide: ROLLOUT_ANALYSIS, useClass: SignalAnalysis },
];
export const rolloutControllers = [RolloutsController, EnvironmentsController];
