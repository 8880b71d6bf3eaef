import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { ModelRolloutObservedV1, ModelRolloutTransitionedV1 } from '@keel/contracts';
import { type Rollout } from '@keel/grpc-api';
import { type ModelRegistryApi, REGISTRY_CLIENT } from '@keel/registry-client';
import { HealthRegistry, Infrastructure, ROOT_LOGGER, SERVICE_CONFIG } from '@keel/service-runtime';
import { type Logger } from 'pino';
import { type ServingConfig } from '../config';
import {
  type MirrorComparison,
  type Route,
  type VersionObservation,
  type VersionRouter,
} from '../inference/version-router';
import { ModelStore } from '../models/model-store';
import { RolloutObservations } from './rollout-observations';
import { type RoutingPlan, RoutingTable } from './routing-table';

const FINAL = new Set(['promoted', 'rolled-back', 'rejected', 'aborted']);

/** The readiness indicator that holds a starting replica back until it knows the rollouts of its models. */
export const ROLLOUT_PLANS_INDICATOR = 'rollout-plans';

/** How often a starting replica looks whether its start-up model sync is done. */
const STARTUP_POLL_MS = 100;

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
 *
 * A starting replica is not ready until it has read the rollout of every model its start-up sync loaded: otherwise a
 * keyed caller on the candidate's arm would be answered by the champion after a restart, until the next resync.
 */
@Injectable()
export class RolloutRouter implements VersionRouter, OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly table = new RoutingTable();
  /** Models asked for while they had no plan: the resync asks the registry about them. */
  private readonly models = new Set<string>();
  private readonly observations = new RolloutObservations();
  private readonly instance = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private readonly logger: Logger;
  private timer?: NodeJS.Timeout;
  private reportTimer?: NodeJS.Timeout;
  private reporting: Promise<void> = Promise.resolve();
  private startupPlansRead = false;
  /** Each model's protected attributes (its pipeline spec's), read when a plan for it arrives: the fairness gap. */
  private readonly protectedAttributes = new Map<string, readonly string[]>();
  private stopped = false;

  constructor(
    private readonly infra: Infrastructure,
    private readonly store: ModelStore,
    private readonly health: HealthRegistry,
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

  observed(modelName: string, observation: VersionObservation): void {
    const plan = this.table.get(modelName);
    if (plan) this.observations.record(modelName, plan, observation, this.protectedAttributes.get(modelName));
  }

  mirrored(modelName: string, comparison: MirrorComparison): void {
    const plan = this.table.get(modelName);
    if (plan) this.observations.compare(modelName, plan, comparison.answer, comparison.mirror);
  }

  /** The plan held for a model (tests, diagnostics). */
  planFor(modelName: string): RoutingPlan | undefined {
    return this.table.get(modelName);
  }

  onModuleInit(): void {
    this.health.register({
      name: ROLLOUT_PLANS_INDICATOR,
      check: () =>
        this.startupPlansRead
          ? Promise.resolve()
          : Promise.reject(new Error('the rollouts of the models loaded at start-up are not read yet')),
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    const consumer = this.infra.createConsumer(`rollouts-${this.instance}`, {
      fromBeginning: false,
      gatesReadiness: false,
      ephemeralGroup: true,
    });
    consumer.on(ModelRolloutTransitionedV1, (event) => {
      const data = event.data;
      this.install(data.modelName, planOf({ ...data, state: data.to }), data.revision);
      return Promise.resolve();
    });
    await consumer.start();
    this.timer = setInterval(() => void this.resync(), this.config.MODEL_RESYNC_INTERVAL_MS);
    this.timer.unref();
    this.reportTimer = setInterval(() => {
      this.reporting = this.reporting.then(() => this.report());
    }, this.config.ROLLOUT_OBSERVATION_INTERVAL_MS);
    this.reportTimer.unref();
    void this.readStartupPlans();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.reportTimer);
    // What was seen since the last report still counts for the step.
    this.reporting = this.reporting.then(() => this.report());
    await this.reporting;
  }

  /**
   * Publishes what this instance saw of each rollout step since the last report. A report that cannot be published
   * is dropped (the analysis then waits for more traffic), never retried into the next interval's counts.
   */
  async report(): Promise<void> {
    for (const observation of this.observations.drain(this.instance)) {
      try {
        await this.infra.publisher.publish(ModelRolloutObservedV1, observation, {
          id: `rollout-observed-${this.instance}-${observation.modelName}-${observation.revision}-${observation.intervalEnd}`,
        });
      } catch (error) {
        this.logger.warn({ err: error, modelName: observation.modelName }, 'could not report a rollout observation');
      }
    }
  }

  /**
   * Once the start-up model sync is done, reads the rollout of every model loaded, then lets readiness pass. A model
   * whose rollout cannot be read is logged and answered by its champion until a resync reads it: a replica that the
   * registry fails at that moment still serves.
   */
  private async readStartupPlans(): Promise<void> {
    while (!this.store.isReady()) {
      if (this.stopped) return;
      await sleep(STARTUP_POLL_MS, undefined, { ref: false });
    }
    for (const modelName of this.store.names()) this.models.add(modelName);
    await this.resync();
    this.startupPlansRead = true;
  }

  /** Asks the registry for the rollout of every model this instance knows; a failure keeps the plans it has. */
  async resync(): Promise<void> {
    if (!this.registry.findRollout) return;
    for (const modelName of this.models) {
      try {
        const rollout: Rollout | undefined = await this.registry.findRollout(modelName);
        this.install(modelName, rollout ? planOf(rollout) : null, rollout?.revision ?? 0);
      } catch (error) {
        this.logger.warn({ err: error, modelName }, 'could not read the rollout; keeping the current plan');
      }
    }
  }

  /** Installs a model's plan; a model newly under a rollout has its protected attributes read (off the request path). */
  private install(modelName: string, plan: RoutingPlan | null, revision: number): void {
    this.table.set(modelName, plan, revision);
    if (!this.table.get(modelName)) {
      // Read again at the next rollout: the spec may have changed meanwhile.
      this.protectedAttributes.delete(modelName);
      return;
    }
    if (this.protectedAttributes.has(modelName)) return;
    this.protectedAttributes.set(modelName, []);
    // In serving a model is named by its pipeline.
    this.infra.pipelines.getModelPipeline(modelName).then(
      ({ spec }) => this.protectedAttributes.set(modelName, spec.protectedAttributes),
      (error: unknown) => {
        this.protectedAttributes.delete(modelName);
        this.logger.warn({ err: error, modelName }, 'could not read the protected attributes; no fairness gap yet');
      },
    );
  }
}
