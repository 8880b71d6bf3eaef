import { EnvironmentsController } from '../environments/environments.controller';
import { BakeTimeOnlyAnalysis, ROLLOUT_ANALYSIS } from './rollout-analysis';
import { RolloutDriver } from './rollout-driver';
import { RolloutsController } from './rollouts.controller';
import { RolloutsService } from './rollouts.service';

/**
 * Rollouts and environments live beside the models they move (registration starts rollouts, rollouts move aliases),
 * so they are provided by the models module rather than a module of their own that would import it in a cycle.
 */
export const rolloutProviders = [
  RolloutsService,
  RolloutDriver,
  { provide: ROLLOUT_ANALYSIS, useClass: BakeTimeOnlyAnalysis },
];
export const rolloutControllers = [RolloutsController, EnvironmentsController];
