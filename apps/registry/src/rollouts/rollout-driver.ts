import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { ROOT_LOGGER, SERVICE_CONFIG } from '@keel/service-runtime';
import { type Logger } from 'pino';
import { type RegistryConfig } from '../config';
import { StagingValidator } from '../environments/staging-validator';
import { ROLLOUT_ANALYSIS, type RolloutAnalysisSource } from './rollout-analysis';
import { bakeElapsed, RolloutTransitionRefusedError } from './rollout-machine';
import { ROLLOUT_ACTOR, RolloutsService } from './rollouts.service';

/**
 * Moves active rollouts on their own: every ROLLOUT_TICK_INTERVAL_MS it reads each progressing rollout and asks the
 * analysis about its current step; a failing verdict rolls back at once (mid-bake too), a passing one advances once
 * the step's bake time is up. A rollout in staging is tried there (StagingValidator, when STAGING_SERVING_GRPC_URL is
 * set) and enters production or is rejected on the trial's verdict. Every replica may run it: a transition is
 * applied only to the rollout revision the decision was made on, so of two replicas deciding at once one applies it.
 */
@Injectable()
export class RolloutDriver implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger: Logger;
  private timer?: NodeJS.Timeout;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly rollouts: RolloutsService,
    @Inject(ROLLOUT_ANALYSIS) private readonly analysis: RolloutAnalysisSource,
    private readonly staging: StagingValidator,
    @Inject(SERVICE_CONFIG) private readonly config: RegistryConfig,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'rollout-driver' });
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      this.running = this.running.then(() =>
        this.tick().catch((error: unknown) => this.logger.warn({ err: error }, 'rollout tick failed')),
      );
    }, this.config.ROLLOUT_TICK_INTERVAL_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass over the active rollouts; returns how many it moved. */
  async tick(now = new Date()): Promise<number> {
    let moved = 0;
    for (const modelName of await this.rollouts.activeModels()) {
      const latest = await this.rollouts.current(modelName);
      if (!latest) continue;
      const staging = latest.state.state === 'staging';
      if (staging ? !this.staging.enabled : latest.state.state !== 'progressing') continue;
      const verdict = staging
        ? await this.staging.trial(latest.state, now)
        : await this.analysis.evaluate(latest.state, latest.version, now);
      // A canary step's pass waits for its bake time; an A/B test's significant result concludes it at once.
      const early = !staging && latest.state.strategy !== 'ab' && !bakeElapsed(latest.state, now);
      if (verdict.outcome === 'wait' || (verdict.outcome === 'pass' && early)) {
        continue;
      }
      const pass = verdict.outcome === 'pass';
      try {
        const { rollout: after, applied } = await this.rollouts.apply(
          modelName,
          staging ? (pass ? 'staging-passed' : 'staging-failed') : pass ? 'analysis-passed' : 'analysis-failed',
          {
            actor: ROLLOUT_ACTOR,
            reason: verdict.reason,
            expect: { rolloutId: latest.state.rolloutId, revision: latest.version },
            at: now,
          },
        );
        if (!applied) continue;
        moved += 1;
        this.logger.info({ modelName, rolloutId: after.state.rolloutId, state: after.state.state }, verdict.reason);
      } catch (error) {
        // A person paused or finished it between the read and the transition.
        if (!(error instanceof RolloutTransitionRefusedError)) throw error;
      }
    }
    return moved;
  }
}
