import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import {
  type EventData,
  LOWER_IS_BETTER,
  type MetricName,
  ModelRegisteredV1,
  type ModelTrainedV1,
  type PipelineSpecV1,
  WellKnownAlias,
} from '@keel/contracts';
import { NonRetryableError } from '@keel/messaging';
import { fetchModelPackage, type ModelPackage } from '@keel/model-package';
import { BUCKETS } from '@keel/storage';
import { Infrastructure, ROOT_LOGGER, SERVICE_CONFIG } from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { WorkerPool, WorkerTaskError } from '@keel/workers';
import { type Span } from '@opentelemetry/api';
import { type Logger } from 'pino';
import { RolloutsService } from '../rollouts/rollouts.service';
import { AliasMovesService } from './alias-moves.service';
import { AliasesRepository } from './aliases.repository';
import { championComparisonTask } from './champion-comparison.task';
import { type RegistryConfig } from '../config';
import {
  type AttributeFairness,
  candidateEvaluationTask,
  type CandidateEvaluationOutput,
} from './candidate-evaluation.task';
import {
  decideChampion,
  evaluateFairnessGates,
  evaluateBusinessGate,
  evaluateGates,
  evaluateRobustnessGate,
  type GateOutcome,
  uncheckableGate,
  VERIFIED_METRICS_GATE,
  verifyClaimedMetrics,
} from './gates';
import {
  type ChampionComparisonRecord,
  type MetricsVerification,
  type ModelVersionRecord,
  ModelVersionsRepository,
} from './model-versions.repository';

const CHAMPION = WellKnownAlias.CHAMPION;
/** Who the registry's own (gate-driven) moves are recorded as. */
const CHANGED_BY = 'registry';

/** What registering one trained package did. */
export interface RegistrationOutcome {
  version: ModelVersionRecord;
  created: boolean;
  championMoved: boolean;
  reason: string;
}

/** CloudEvent id derived from what happened, so a replayed publish is deduplicated downstream. */
export const registeredEventId = (modelName: string, version: number) => `model-registered-${modelName}-${version}`;

/**
 * Registers trained packages as model versions, applies the spec's gates and moves the champion alias.
 * Every effect is keyed by content (package sha256) or by the alias move's number, so replaying an event at any
 * point after a crash converges to the same state and republishes the same event ids.
 */
@Injectable()
export class ModelRegistrationService implements OnApplicationBootstrap {
  private readonly logger: Logger;

  constructor(
    private readonly infra: Infrastructure,
    private readonly versions: ModelVersionsRepository,
    private readonly aliases: AliasesRepository,
    private readonly aliasMoves: AliasMovesService,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    private readonly workers: WorkerPool,
    private readonly rollouts: RolloutsService,
    @Inject(SERVICE_CONFIG) private readonly config: RegistryConfig,
  ) {
    this.logger = rootLogger.child({ component: 'model-registration' });
  }

  /** A worker thread compiles its modules on its first task, which takes seconds: paid at start-up, not by a job. */
  async onApplicationBootstrap(): Promise<void> {
    await this.workers.warm(championComparisonTask);
    await this.workers.warm(candidateEvaluationTask);
  }

  register(event: EventData<typeof ModelTrainedV1>): Promise<RegistrationOutcome> {
    const attributes = { [KeelAttr.PIPELINE_ID]: event.pipelineId, [KeelAttr.TRAINING_RUN_ID]: event.runId };
    return withSpan('register model version', attributes, async (span) => {
      const outcome = await this.registerInSpan(event, span);
      // Whether it was created, passed its gates and moved the champion is in the log line of the same trace.
      span.setAttribute(KeelAttr.MODEL_VERSION, outcome.version.version);
      return outcome;
    });
  }

  private async registerInSpan(event: EventData<typeof ModelTrainedV1>, span: Span): Promise<RegistrationOutcome> {
    const modelName = event.pipelineId;
    const { spec } = await this.infra.pipelines.getModelPipeline(event.pipelineId);
    checkMetricKeys(event.metrics);

    // A replay of an already registered package needs neither the package nor a new gate evaluation.
    let { record, created } = await this.existing(modelName, event.packageSha256);
    if (!record) {
      const { pkg, bytes } = await this.loadPackage(event);
      const verified = await this.verify(event, pkg, bytes, spec);
      const comparison = await this.compareWithChampion(event, bytes, spec.training.primaryMetric);
      const gates = [...verified.gates, ...evaluateGates(spec.gates, verified.metrics)];
      if (verified.fairness) gates.push(...evaluateFairnessGates(spec.fairnessGates, verified.fairness));
      if (spec.robustnessGate) gates.push(evaluateRobustnessGate(spec.robustnessGate, verified.robustness));
      if (spec.businessGate) gates.push(evaluateBusinessGate(spec.businessGate, verified.business));
      ({ record, created } = await this.versions.register({
        modelName,
        pipelineId: event.pipelineId,
        packageUri: event.packageUri,
        packageSha256: event.packageSha256,
        algorithm: event.algorithm,
        metrics: verified.metrics,
        verification: verified.record,
        lineage: {
          datasetVersionId: pkg.lineage.datasetVersionId,
          datasetSha256: event.datasetSha256,
          featureSetId: event.featureSetId,
          featureSetSha256: event.featureSetSha256,
          codeVersion: pkg.lineage.codeVersion,
          seed: pkg.lineage.seed,
          runId: event.runId,
          ...(event.featureSetUri ? { featureSetUri: event.featureSetUri } : {}),
          ...(event.snapshot ? { snapshot: event.snapshot } : {}),
        },
        gates,
        gatesPassed: gates.every((gate) => gate.passed),
        ...(event.trigger ? { trigger: event.trigger } : {}),
        ...(comparison ? { comparison } : {}),
        ...(event.candidates ? { candidates: event.candidates } : {}),
      }));
    }
    span.setAttribute(KeelAttr.MODEL_NAME, modelName);

    await this.infra.publisher.publish(
      ModelRegisteredV1,
      {
        pipelineId: event.pipelineId,
        modelName,
        version: record.version,
        packageUri: record.packageUri,
        packageSha256: record.packageSha256,
        gates: record.gates.map(({ gate, passed, observed, threshold, message }) => ({
          gate,
          passed,
          // Absent values may come back from Mongo as null; the contract wants them absent.
          observed: observed ?? undefined,
          threshold: threshold ?? undefined,
          message: message ?? undefined,
        })),
        gatesPassed: record.gatesPassed,
        ...(record.comparison
          ? {
              comparison: {
                championVersion: record.comparison.championVersion,
                metric: record.comparison.metric,
                candidate: record.comparison.candidate,
                champion: record.comparison.champion,
                rows: record.comparison.rows,
                evaluationData: record.comparison.evaluationData,
              },
            }
          : {}),
      },
      { id: registeredEventId(modelName, record.version) },
    );

    const moved = await this.maybeMoveChampion(record, spec, created);
    this.logger.info(
      { modelName, version: record.version, created, gatesPassed: record.gatesPassed, championMoved: moved.move },
      moved.reason,
    );
    return { version: record, created, championMoved: moved.move, reason: moved.reason };
  }

  private async existing(modelName: string, packageSha256: string) {
    const record = await this.versions.findByPackage(modelName, packageSha256);
    return { record, created: false };
  }

  /**
   * Decides and performs the champion move. A version registered before (a replay, or the same package again) may
   * only finish a move the registry had started for it — never start a second one.
   */
  private async maybeMoveChampion(
    record: ModelVersionRecord,
    spec: PipelineSpecV1,
    created: boolean,
  ): Promise<{ move: boolean; reason: string }> {
    const { modelName, version } = record;
    const primaryMetric = spec.training.primaryMetric;
    const current = await this.aliases.get(modelName, CHAMPION);
    const started = created ? null : await this.aliases.findLatestMoveTo(modelName, CHAMPION, version, CHANGED_BY);
    if (started) {
      const unfinished = current?.version === version || (current?.sequence ?? 0) < started.sequence;
      if (!unfinished) return { move: false, reason: `v${version} was champion before; the alias has moved on since` };
      await this.aliases.point(started);
      await this.aliasMoves.publish(record, started);
      return { move: true, reason: started.reason };
    }
    const champion = current ? await this.versions.find(modelName, current.version) : null;
    const decision = decideChampion({
      gatesPassed: record.gatesPassed,
      primaryMetric,
      candidate: record,
      champion: champion ?? undefined,
      comparison: record.comparison,
    });
    if (!decision.move) return decision;
    if (spec.rollout.strategy !== 'replace' || spec.rollout.staging.enabled) {
      // The champion moves when the rollout promotes; starting is idempotent per candidate, so a replay starts none.
      const { rollout } = await this.rollouts.start({
        modelName,
        version,
        ...(spec.rollout.strategy === 'replace' ? { strategy: 'blue-green' as const } : {}),
        actor: CHANGED_BY,
        reason: decision.reason,
      });
      return {
        move: false,
        reason: `${decision.reason}; rollout ${rollout.state.rolloutId} is ${rollout.state.state}`,
      };
    }
    await this.aliasMoves.move(record, {
      modelName,
      alias: CHAMPION,
      version,
      reason: decision.reason,
      changedBy: CHANGED_BY,
      changedAt: new Date(),
    });
    return decision;
  }

  /**
   * The metrics the gates judge: recomputed from the package on the holdout rows of the feature set the event names
   * (sha256-verified, and the one the package's lineage names), never the event's own. An event naming no feature set
   * is rejected, unless REGISTRY_REQUIRE_VERIFIED_METRICS is turned off (then it is judged on its claims and recorded
   * as unverified, except when the spec has fairness gates, which need the holdout).
   */
  private async verify(
    event: EventData<typeof ModelTrainedV1>,
    pkg: ModelPackage,
    bytes: Buffer,
    spec: PipelineSpecV1,
  ): Promise<{
    metrics: Record<string, number>;
    gates: GateOutcome[];
    fairness?: AttributeFairness[];
    robustness?: CandidateEvaluationOutput['robustness'];
    business?: CandidateEvaluationOutput['business'];
    record: MetricsVerification;
  }> {
    const unverified = (why: string) => {
      const record: MetricsVerification = { status: 'unverified', reason: why, claimedMetrics: event.metrics };
      const needsHoldout = spec.fairnessGates.length > 0 || spec.robustnessGate || spec.businessGate;
      if (this.config.REGISTRY_REQUIRE_VERIFIED_METRICS || needsHoldout) {
        return { metrics: {}, gates: [uncheckableGate(VERIFIED_METRICS_GATE, why)], record };
      }
      this.logger.warn({ pipelineId: event.pipelineId, runId: event.runId }, `metrics not verified: ${why}`);
      return { metrics: event.metrics, gates: [], record };
    };
    if (!event.featureSetUri) return unverified('the event names no feature set to recompute the metrics on');
    if (pkg.lineage.featureSetSha256 !== event.featureSetSha256) {
      const why = `the package was trained on feature set ${pkg.lineage.featureSetSha256}, the event names ${event.featureSetSha256}`;
      const record: MetricsVerification = { status: 'failed', reason: why, claimedMetrics: event.metrics };
      return { metrics: {}, gates: [uncheckableGate(VERIFIED_METRICS_GATE, why)], record };
    }
    const attributes = { [KeelAttr.PIPELINE_ID]: event.pipelineId, [KeelAttr.TRAINING_RUN_ID]: event.runId };
    return withSpan('verify candidate metrics', attributes, async () => {
      let evaluated: CandidateEvaluationOutput;
      try {
        const featureSet = await this.infra.objects.getVerified({
          uri: event.featureSetUri!,
          sha256: event.featureSetSha256,
        });
        evaluated = await this.workers.run(candidateEvaluationTask, {
          candidatePackage: bytes,
          featureSet,
          protectedAttributes: spec.task === 'binary-classification' ? spec.protectedAttributes : [],
          ...(spec.robustnessGate ? { robustness: spec.robustnessGate } : {}),
          ...(spec.businessGate ? { business: spec.businessGate } : {}),
          sliceAttributes: spec.protectedAttributes,
        });
      } catch (error) {
        // A feature set that cannot be read or scored will not become readable: the claims stay unchecked.
        const hopeless = error instanceof WorkerTaskError || (error as { retryable?: unknown }).retryable === false;
        if (!hopeless) throw error;
        const why = `the holdout could not be scored: ${(error as Error).message}`;
        const record: MetricsVerification = { status: 'failed', reason: why, claimedMetrics: event.metrics };
        return { metrics: {}, gates: [uncheckableGate(VERIFIED_METRICS_GATE, why)], record };
      }
      const gate = verifyClaimedMetrics(event.metrics, evaluated.metrics, evaluated.rows);
      // Content-addressed: a replay stores the same report under the same URI.
      const report = await this.infra.objects.putContentAddressed(
        BUCKETS.reports,
        `${event.pipelineId}/evaluations`,
        Buffer.from(JSON.stringify(evaluated.report)),
        { extension: '.json', contentType: 'application/json' },
      );
      return {
        metrics: evaluated.metrics,
        gates: [gate],
        fairness: evaluated.fairness,
        ...(evaluated.robustness ? { robustness: evaluated.robustness } : {}),
        ...(evaluated.business ? { business: evaluated.business } : {}),
        record: {
          status: gate.passed ? 'verified' : 'failed',
          reason: gate.message ?? '',
          claimedMetrics: event.metrics,
          rows: evaluated.rows,
          fairness: evaluated.fairness,
          ...(evaluated.robustness ? { robustness: evaluated.robustness } : {}),
          ...(evaluated.business ? { business: evaluated.business } : {}),
          evaluationReport: { uri: report.uri, sha256: report.sha256 },
        },
      };
    });
  }

  /** Loads and checks the package the event points at; a package that cannot be read will never become readable. */
  private loadPackage(event: EventData<typeof ModelTrainedV1>): Promise<{ pkg: ModelPackage; bytes: Buffer }> {
    return fetchModelPackage(this.infra.objects, {
      packageUri: event.packageUri,
      packageSha256: event.packageSha256,
      pipelineId: event.pipelineId,
    });
  }

  /**
   * Scores the candidate and the current champion on the same rows: the candidate's holdout rows the champion never
   * trained or validated on. Undefined when there is no other champion, the candidate's feature set is unknown, or the
   * champion cannot be scored on these rows (then each one's own holdout decides, and the log says why).
   */
  private async compareWithChampion(
    event: EventData<typeof ModelTrainedV1>,
    candidatePackage: Buffer,
    primaryMetric: MetricName,
  ): Promise<ChampionComparisonRecord | undefined> {
    const current = await this.aliases.get(event.pipelineId, CHAMPION);
    const champion = current ? await this.versions.find(event.pipelineId, current.version) : null;
    if (!champion || champion.packageSha256 === event.packageSha256 || !event.featureSetUri) return undefined;
    const attributes = { [KeelAttr.PIPELINE_ID]: event.pipelineId, [KeelAttr.MODEL_VERSION]: champion.version };
    return withSpan('compare with champion', attributes, async () => {
      try {
        return await this.scoreOnSameRows(event, candidatePackage, champion, primaryMetric);
      } catch (error) {
        // A champion (or feature set) that cannot be read or scored is no reason to refuse the candidate.
        const hopeless = error instanceof WorkerTaskError || (error as { retryable?: unknown }).retryable === false;
        if (!hopeless) throw error;
        this.logger.warn(
          { pipelineId: event.pipelineId, championVersion: champion.version, err: error },
          'candidate and champion could not be scored on the same rows; each one is judged on its own holdout',
        );
        return undefined;
      }
    });
  }

  private async scoreOnSameRows(
    event: EventData<typeof ModelTrainedV1>,
    candidatePackage: Buffer,
    champion: ModelVersionRecord,
    primaryMetric: MetricName,
  ): Promise<ChampionComparisonRecord | undefined> {
    const [championPackage, candidateFeatureSet, championFeatureSet] = await Promise.all([
      fetchModelPackage(this.infra.objects, {
        packageUri: champion.packageUri,
        packageSha256: champion.packageSha256,
        pipelineId: event.pipelineId,
      }),
      this.infra.objects.getVerified({ uri: event.featureSetUri!, sha256: event.featureSetSha256 }),
      champion.lineage.featureSetUri
        ? this.infra.objects.getVerified({
            uri: champion.lineage.featureSetUri,
            sha256: champion.lineage.featureSetSha256,
          })
        : Promise.resolve(undefined),
    ]);
    const scored = await this.workers.run(championComparisonTask, {
      primaryMetric,
      candidatePackage,
      championPackage: championPackage.bytes,
      candidateFeatureSet,
      ...(championFeatureSet ? { championFeatureSet } : {}),
    });
    const candidate = scored.candidate[primaryMetric];
    const theirs = scored.champion[primaryMetric];
    if (candidate === undefined || theirs === undefined || scored.rows === 0) return undefined;
    const direction = LOWER_IS_BETTER.includes(primaryMetric) ? 'lower' : 'higher';
    return {
      championVersion: champion.version,
      metric: primaryMetric,
      candidate,
      champion: theirs,
      rows: scored.rows,
      excludedRows: scored.excludedRows,
      evaluationData:
        `holdout rows of feature set ${event.featureSetId}` +
        (event.snapshot ? ` (window ${event.snapshot.window} up to ${event.snapshot.upToDatasetVersionId})` : '') +
        (scored.newest
          ? `: the ${scored.rows} newest, which the champion never saw (${scored.excludedRows} older left out)`
          : `, less ${scored.excludedRows} the champion trained or validated on`) +
        `; ${direction} ${primaryMetric} is better`,
      candidateMetrics: scored.candidate,
      championMetrics: scored.champion,
    };
  }
}

/** Metric names become Mongo keys: no dots, no leading $. */
function checkMetricKeys(metrics: Record<string, number>): void {
  const bad = Object.keys(metrics).filter((name) => name.includes('.') || name.startsWith('$'));
  if (bad.length > 0) {
    throw new NonRetryableError(
      `metric names must not contain "." or start with "$": ${bad.join(', ')}`,
      'bad-metric-name',
    );
  }
}
