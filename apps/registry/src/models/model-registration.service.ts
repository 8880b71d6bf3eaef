import { Inject, Injectable } from '@nestjs/common';
import { type EventData, ModelRegisteredV1, type ModelTrainedV1, WellKnownAlias } from '@keel/contracts';
import { NonRetryableError } from '@keel/messaging';
import { fetchModelPackage, type ModelPackage } from '@keel/model-package';
import { Infrastructure, ROOT_LOGGER } from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { type Span } from '@opentelemetry/api';
import { type Logger } from 'pino';
import { AliasMovesService } from './alias-moves.service';
import { AliasesRepository } from './aliases.repository';
import { decideChampion, evaluateGates } from './gates';
import { type ModelVersionRecord, ModelVersionsRepository } from './model-versions.repository';

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
export class ModelRegistrationService {
  private readonly logger: Logger;

  constructor(
    private readonly infra: Infrastructure,
    private readonly versions: ModelVersionsRepository,
    private readonly aliases: AliasesRepository,
    private readonly aliasMoves: AliasMovesService,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'model-registration' });
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
   * only finish a move the registry had started for it — never start a second one.
   */
  private async maybeMoveChampion(
    record: ModelVersionRecord,
    primaryMetric: Parameters<typeof decideChampion>[0]['primaryMetric'],
    created: boolean,
  ): Promise<{ move: boolean; reason: string }> {
    const { modelName, version } = record;
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
    });
    if (!decision.move) return decision;
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
