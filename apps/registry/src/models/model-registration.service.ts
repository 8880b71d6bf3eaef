import { Inject, Injectable } from '@nestjs/common';
import { type EventData, ModelAliasChangedV1, ModelRegisteredV1, type ModelTrainedV1 } from '@keel/contracts';
import { NonRetryableError } from '@keel/messaging';
import { fetchModelPackage, type ModelPackage } from '@keel/model-package';
import { Infrastructure, ROOT_LOGGER } from '@keel/service-runtime';
import { type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import { type Logger } from 'pino';
import { AliasesRepository, type AliasMoveRecord } from './aliases.repository';
import { decideChampion, evaluateGates } from './gates';
import { type ModelVersionRecord, ModelVersionsRepository } from './model-versions.repository';

export const CHAMPION = 'champion';
const CHANGED_BY = 'registry';

/** What registering one trained package did. */
export interface RegistrationOutcome {
  version: ModelVersionRecord;
  created: boolean;
  championMoved: boolean;
  reason: string;
}

const tracer = trace.getTracer('keel-registry');

/** CloudEvent ids derived from what happened, so a replayed publish is deduplicated downstream. */
export const registeredEventId = (modelName: string, version: number) => `model-registered-${modelName}-${version}`;
export const aliasChangedEventId = (modelName: string, alias: string, version: number) =>
  `alias-changed-${modelName}-${alias}-${version}`;

/**
 * Registers trained packages as model versions, applies the spec's gates and moves the champion alias.
 * Every effect is keyed by content (package sha256) or by (model, alias, version), so replaying an event at any
 * point after a crash converges to the same state and republishes the same event ids.
 */
@Injectable()
export class ModelRegistrationService {
  private readonly logger: Logger;

  constructor(
    private readonly infra: Infrastructure,
    private readonly versions: ModelVersionsRepository,
    private readonly aliases: AliasesRepository,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'model-registration' });
  }

  async register(event: EventData<typeof ModelTrainedV1>): Promise<RegistrationOutcome> {
    return tracer.startActiveSpan('register model version', async (span) => {
      try {
        span.setAttributes({ 'keel.pipeline_id': event.pipelineId, 'keel.run_id': event.runId });
        const outcome = await this.registerInSpan(event, span);
        span.setAttributes({
          'keel.model_version': outcome.version.version,
          'keel.created': outcome.created,
          'keel.gates_passed': outcome.version.gatesPassed,
          'keel.champion_moved': outcome.championMoved,
        });
        return outcome;
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        throw error;
      } finally {
        span.end();
      }
    });
  }

  private async registerInSpan(event: EventData<typeof ModelTrainedV1>, span: Span): Promise<RegistrationOutcome> {
    const modelName = event.pipelineId;
    const { spec } = await this.infra.pipelines.get(event.pipelineId);
    checkMetricKeys(event.metrics);

    // A replay of an already registered package needs neither the package nor a new gate evaluation.
    let { record, created } = await this.existing(modelName, event.packageSha256);
    if (!record) {
      const pkg = await this.loadPackage(event);
      const gates = evaluateGates(spec.gates, event.metrics);
      ({ record, created } = await this.versions.register({
        modelName,
        pipelineId: event.pipelineId,
        packageUri: event.packageUri,
        packageSha256: event.packageSha256,
        algorithm: event.algorithm,
        metrics: event.metrics,
        lineage: {
          datasetVersionId: pkg.lineage.datasetVersionId,
          datasetSha256: event.datasetSha256,
          featureSetId: event.featureSetId,
          featureSetSha256: event.featureSetSha256,
          codeVersion: pkg.lineage.codeVersion,
          seed: pkg.lineage.seed,
          runId: event.runId,
        },
        gates,
        gatesPassed: gates.every((gate) => gate.passed),
      }));
    }
    span.setAttribute('keel.model_name', modelName);

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
      },
      { id: registeredEventId(modelName, record.version) },
    );

    const moved = await this.maybeMoveChampion(record, spec.training.primaryMetric, created);
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
   * only finish a move it had started — never start a second one, since the history holds one move per version.
   */
  private async maybeMoveChampion(
    record: ModelVersionRecord,
    primaryMetric: Parameters<typeof decideChampion>[0]['primaryMetric'],
    created: boolean,
  ): Promise<{ move: boolean; reason: string }> {
    const { modelName, version } = record;
    const current = await this.aliases.get(modelName, CHAMPION);
    const started = created ? null : await this.aliases.findMove(modelName, CHAMPION, version);
    if (started) {
      const unfinished = current?.version === version || current?.version === started.previousVersion;
      if (!unfinished) return { move: false, reason: `v${version} was champion before; the alias has moved on since` };
      await this.aliases.point(modelName, CHAMPION, version);
      await this.publishMove(record, started);
      return { move: true, reason: started.reason };
    }
    const champion = current ? await this.versions.find(modelName, current.version) : null;
    const decision = decideChampion({
      gatesPassed: record.gatesPassed,
      primaryMetric,
      candidate: record,
      champion: champion ?? undefined,
    });
    if (!decision.move) return decision;
    await tracer.startActiveSpan('move champion alias', async (span) => {
      try {
        span.setAttributes({ 'keel.model_name': modelName, 'keel.model_version': version });
        const move = await this.aliases.move({
          modelName,
          alias: CHAMPION,
          version,
          previousVersion: current?.version,
          reason: decision.reason,
          changedBy: CHANGED_BY,
          changedAt: new Date(),
        });
        await this.publishMove(record, move);
      } finally {
        span.end();
      }
    });
    return decision;
  }

  private async publishMove(record: ModelVersionRecord, move: AliasMoveRecord): Promise<void> {
    await this.infra.publisher.publish(
      ModelAliasChangedV1,
      {
        // Stored from a validated event; the publisher validates it again against the contract.
        pipelineId: record.pipelineId as EventData<typeof ModelAliasChangedV1>['pipelineId'],
        modelName: record.modelName,
        alias: move.alias,
        version: move.version,
        // Mongo returns null for a field stored as undefined.
        previousVersion: move.previousVersion ?? undefined,
        reason: move.reason.slice(0, 500),
        changedBy: move.changedBy,
      },
      { id: aliasChangedEventId(record.modelName, move.alias, move.version) },
    );
  }

  /** Loads and checks the package the event points at; a package that cannot be read will never become readable. */
  private async loadPackage(event: EventData<typeof ModelTrainedV1>): Promise<ModelPackage> {
    const { pkg } = await fetchModelPackage(this.infra.objects, {
      packageUri: event.packageUri,
      packageSha256: event.packageSha256,
      pipelineId: event.pipelineId,
    });
    return pkg;
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
