import {
  type ControlRolloutRequest,
  type GetRolloutRequest,
  type Rollout as RolloutMessage,
  type StartRolloutRequest,
  type WhichVersionAnsweredRequest,
  type WhichVersionAnsweredResponse,
} from '@keel/grpc-api';
import { ManualRolloutAction, RolloutStrategy } from '@keel/contracts';
import { RegistryInvalidArgumentError, RegistryNotFoundError } from '../models/model-queries.service';
import { type RolloutRevision, type RolloutsService } from './rollouts.service';

/** Wire shape of a rollout (proto `Rollout`). */
export function toProtoRollout(stored: RolloutRevision): RolloutMessage {
  const rollout = stored.state;
  return {
    rolloutId: rollout.rolloutId,
    modelName: rollout.modelName,
    strategy: rollout.strategy,
    candidateVersion: rollout.candidateVersion,
    baselineVersion: rollout.baselineVersion ?? 0,
    state: rollout.state,
    step: rollout.step,
    candidateWeight: rollout.candidateWeight,
    mirrored: rollout.mirrored,
    revision: stored.version,
    trigger: rollout.transition.trigger,
    reason: rollout.transition.reason,
    actor: rollout.transition.actor,
    transitionedAt: new Date(rollout.transition.at).toISOString(),
    startedAt: new Date(rollout.startedAt).toISOString(),
    stickyKey: rollout.strategy === 'ab' ? rollout.plan.ab.stickyKey : '',
  };
}

function required(field: string, value: string): string {
  if (!value || value.trim() === '') throw new RegistryInvalidArgumentError(field, 'is required');
  return value.trim();
}

/** The rollout RPCs of mlops.registry.v1.ModelRegistry, over the same service as HTTP. */
export function rolloutHandlers(rollouts: RolloutsService) {
  return {
    getRollout: async (request: GetRolloutRequest): Promise<RolloutMessage> => {
      const current = await rollouts.current(request.modelName);
      if (!current) throw new RegistryNotFoundError(`model "${request.modelName}" has no rollout`);
      return toProtoRollout(current);
    },
    startRollout: async (request: StartRolloutRequest): Promise<RolloutMessage> => {
      const strategy = request.strategy ? RolloutStrategy.exclude(['replace']).safeParse(request.strategy) : undefined;
      if (strategy && !strategy.success) {
        throw new RegistryInvalidArgumentError(
          'strategy',
          `"${request.strategy}" is not canary, ab, shadow or blue-green`,
        );
      }
      const { rollout } = await rollouts.start({
        modelName: request.modelName,
        version: request.version,
        ...(strategy?.data ? { strategy: strategy.data } : {}),
        actor: required('actor', request.actor),
        reason: required('reason', request.reason),
        restart: request.restart,
      });
      return toProtoRollout(rollout);
    },
    controlRollout: async (request: ControlRolloutRequest): Promise<RolloutMessage> => {
      const action = ManualRolloutAction.safeParse(request.action);
      if (!action.success) {
        throw new RegistryInvalidArgumentError(
          'action',
          `"${request.action}" is not ${ManualRolloutAction.options.join(', ')}`,
        );
      }
      return toProtoRollout(
        await rollouts.control(
          request.modelName,
          action.data,
          required('actor', request.actor),
          required('reason', request.reason),
        ),
      );
    },
    whichVersionAnswered: async (request: WhichVersionAnsweredRequest): Promise<WhichVersionAnsweredResponse> => {
      const answered = await rollouts.answeredAt(
        request.modelName,
        required('alias', request.alias),
        new Date(required('at', request.at)),
      );
      return { versions: answered.versions, rolloutId: answered.rolloutId ?? '' };
    },
  };
}
