import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { ModelRolloutTransitionedV1 } from '@keel/contracts';
import { type Rollout } from '@keel/grpc-api';
import { type ModelRegistryApi, REGISTRY_CLIENT } from '@keel/registry-client';
import { Infrastructure, ROOT_LOGGER, SERVICE_CONFIG } from '@keel/service-runtime';
import { type Logger } from 'pino';
import { type ServingConfig } from '../config';
import { type Route, type VersionRouter } from '../inference/version-router';
import { type RoutingPlan, RoutingTable } from './routing-table';

const FINAL = new Set(['promoted', 'rolled-back', 'rejected', 'aborted']);

/** The routing plan of a rollout as the registry reports it, or null when it splits no traffic. */
export function planOf(rollout: {
  rolloutId: string;
  state: string;
  baselineVersion?: number;
  candidateVersion: number;
  candidateWeight: number;
  mirrored: boolean;
  revision: number;
}): RoutingPlan | null {
  if (FINAL.has(rollout.state) || !rollout.baselineVersion) return null;
  return {
    rolloutId: rollout.rolloutId,
    baselineVersion: rollout.baselineVersion,
    candidateVersion: rollout.candidateVersion,
    candidateWeight: rollout.candidateWeight,
    mirrored: rollout.mirrored,
    revision: rollout.revision,
  };
}

/**
 * Serving's side of a rollout: which version answers a request for a model's default version. The per-request call
 * is a Map lookup in {@link RoutingTable}; the plans change off the inference path, from
 * `mlops.model.rollout-transitioned.v1` (every replica sees every transition: the consumer group is per process) and
 * from the registry's GetRollout for every model this instance has answered, each MODEL_RESYNC_INTERVAL_MS.
 */
@Injectable()
export class RolloutRouter implements VersionRouter, OnApplicationBootstrap, OnModuleDestroy {
  private readonly table = new RoutingTable();
  /** Models asked for while they had no plan: the resync asks the registry about them. */
  private readonly models = new Set<string>();
  private readonly logger: Logger;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly infra: Infrastructure,
    @Inject(REGISTRY_CLIENT) private readonly registry: ModelRegistryApi,
    @Inject(SERVICE_CONFIG) private readonly config: ServingConfig,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'rollout-router' });
  }

  route(modelName: string, stickyKey: string | undefined): Route | undefined {
    const decision = this.table.route(modelName, stickyKey);
    if (!decision) this.models.add(modelName);
    return decision;
  }

  /** The plan held for a model (tests, diagnostics). */
  planFor(modelName: string): RoutingPlan | undefined {
    return this.table.get(modelName);
  }

  async onApplicationBootstrap(): Promise<void> {
    const instance = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const consumer = this.infra.createConsumer(`rollouts-${instance}`, {
      fromBeginning: false,
      gatesReadiness: false,
      ephemeralGroup: true,
    });
    consumer.on(ModelRolloutTransitionedV1, (event) => {
      const data = event.data;
      this.table.set(data.modelName, planOf({ ...data, state: data.to }), data.revision);
      return Promise.resolve();
    });
    await consumer.start();
    this.timer = setInterval(() => void this.resync(), this.config.MODEL_RESYNC_INTERVAL_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** Asks the registry for the rollout of every model this instance knows; a failure keeps the plans it has. */
  async resync(): Promise<void> {
    if (!this.registry.findRollout) return;
    for (const modelName of this.models) {
      try {
        const rollout: Rollout | undefined = await this.registry.findRollout(modelName);
        this.table.set(modelName, rollout ? planOf(rollout) : null, rollout?.revision ?? 0);
      } catch (error) {
        this.logger.warn({ err: error, modelName }, 'could not read the rollout; keeping the current plan');
      }
    }
  }
}
