import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleDestroy, Optional } from '@nestjs/common';
import { status } from '@grpc/grpc-js';
import { WellKnownAlias } from '@keel/contracts';
import { UnknownCategoryError } from '@keel/ml-models';
import {
  type DecodedModelInferRequest as ModelInferRequest,
  type ModelInferResponse,
  type ModelMetadataResponse,
} from '@keel/grpc-api';
import { SERVICE_CONFIG } from '@keel/service-runtime';
import { KeelAttr } from '@keel/telemetry';
import { context, type Context, type Span, trace } from '@opentelemetry/api';
import { batchingPolicies, type ServingConfig } from '../config';
import { type LoadedModel, type ModelOutputs } from '../models/loaded-model';
import { ModelStore } from '../models/model-store';
import { AdaptiveBatcher } from './adaptive-batcher';
import { AdmissionControl, LoadShedError } from './admission';
import { predictInChunks } from './chunked-prediction';
import {
  grpcStatusOf,
  ModelLoadingError,
  ModelNotFoundError,
  ModelRefusedInputError,
  statusName,
} from './inference-errors';
import { InferenceMetrics } from './inference-metrics';
import { encodeOutputs, selectOutputs } from './output-codec';
import { PredictionLogService, type ServedRequest } from './prediction-log.service';
import { decodeInferInputs, type InputColumns, InvalidInferInputError } from './tensor-codec';
import { decodeJoinedInputs, joinLookups } from '../online/joined-inputs';
import { OnlineViews, OnlineViewUnavailableError } from '../online/online-views';
import { ROUTING_KEY_PARAMETER, VERSION_ROUTER, type VersionRouter } from './version-router';

/** The version that answers a request and the one mirrored; `routed` when a rollout's plan chose them. */
interface RoutedModels {
  model: LoadedModel | undefined;
  mirror?: LoadedModel;
  routed?: boolean;
}

/**
 * The response parameter naming the request's prediction; row i's prediction id (the key of its prediction log and of
 * the label that later reports its outcome) is `<prediction_id>-<i>`.
 */
export const PREDICTION_ID_PARAMETER = 'prediction_id';

/** The server's name in ServerMetadata, over gRPC and REST. */
export const SERVER_NAME = 'keel-serving';

/** Open Inference Protocol v2 semantics over the loaded models; transport-free so it is testable alone. */
@Injectable()
export class InferenceService implements OnModuleDestroy {
  private readonly batcher: AdaptiveBatcher;
  private readonly admission: AdmissionControl;

  constructor(
    private readonly store: ModelStore,
    private readonly metrics: InferenceMetrics,
    private readonly predictionLog: PredictionLogService,
    @Inject(SERVICE_CONFIG) private readonly config: ServingConfig,
    @Optional() @Inject(VERSION_ROUTER) private readonly router?: VersionRouter,
    @Optional() private readonly online?: OnlineViews,
  ) {
    const policies = batchingPolicies(config);
    this.batcher = new AdaptiveBatcher((model) => policies(model.pipelineId));
    this.admission = new AdmissionControl({
      maxInFlight: config.SERVING_MAX_IN_FLIGHT_REQUESTS,
      maxQueueDelayMs: config.SERVING_MAX_QUEUE_DELAY_MS,
      maxUtilization: config.SERVING_MAX_EVENT_LOOP_UTILIZATION,
    });
    metrics.readInFlightFrom(() => this.admission.inFlight);
  }

  onModuleDestroy(): void {
    this.admission.close();
  }

  /**
   * Decodes, predicts and encodes one request, then schedules its prediction log. Rejects with
   * InvalidInferInputError (INVALID_ARGUMENT), ModelNotFoundError (NOT_FOUND) or LoadShedError
   * (RESOURCE_EXHAUSTED: admission control refused it before any work) for the caller's mistakes and for overload,
   * ModelLoadingError (UNAVAILABLE) for a model about to be served here. The request's one span is the transport's
   * (the gRPC or HTTP server span): this only adds the model's attributes to it.
   */
  async infer(request: ModelInferRequest): Promise<ModelInferResponse> {
    const started = performance.now();
    const span = trace.getActiveSpan();
    span?.setAttribute(KeelAttr.MODEL_NAME, request.modelName);
    let label = 'unknown';
    let code = status.OK;
    let refused = false;
    let viewUnavailable = false;
    let release: () => void;
    try {
      release = this.admission.admit();
    } catch (error) {
      // Refused before any work: counted, not timed (the latency histogram is of the calls served).
      if (error instanceof LoadShedError) this.metrics.callsShed.inc({ reason: error.reason });
      this.metrics.countCall(label, statusName(status.RESOURCE_EXHAUSTED));
      throw error;
    }
    let route: RoutedModels | undefined;
    const scored: { outputs?: ModelOutputs; inputs?: InputColumns } = {};
    try {
      route = this.route(request);
      // Unknown names stay out of the label set so callers cannot explode metric cardinality.
      if (route.model) label = route.model.pipelineId;
      return await this.answer(request, route, span, scored);
    } catch (error) {
      code = grpcStatusOf(error);
      refused = error instanceof ModelRefusedInputError;
      // Its own joins' view over a limit (the subclass) or not loaded: the routed version's failure in a rollout.
      viewUnavailable = error instanceof OnlineViewUnavailableError;
      // The caller's mistakes are correct answers; only serving's own failures are recorded on the span.
      if (code === status.INTERNAL) span?.recordException(error instanceof Error ? error : String(error));
      throw error;
    } finally {
      release();
      const statusLabel = statusName(code);
      const seconds = (performance.now() - started) / 1000;
      this.metrics.countCall(label, statusLabel);
      this.metrics.latency.observe({ model: label, status: statusLabel }, seconds);
      // A rollout's analysis compares the versions it routed to: their failures, latencies and predictions.
      if (route?.routed && route.model) {
        const { version } = route.model;
        const { outputs, inputs } = scored;
        const seen = { version, code, refused, viewUnavailable, seconds, outputs, inputs, mirror: false };
        this.router?.observed?.(request.modelName, seen);
      }
    }
  }

  /**
   * The version that answers (resolved once: an alias moving during this request does not change it) and the one
   * mirrored, if any. A request naming no version asks the router (rollouts); any other resolves as named.
   */
  private route(request: ModelInferRequest): RoutedModels {
    const { modelName, modelVersion } = request;
    const route = modelVersion === '' && this.router ? this.router.route(modelName, routingKeyOf(request)) : undefined;
    if (route) {
      const model = this.store.version(modelName, route.version);
      const mirror = route.mirror === undefined ? undefined : this.store.version(modelName, route.mirror);
      if (model) return { model, mirror, routed: true };
      // A plan naming a version not loaded here (yet) must not fail the call: the champion answers.
      this.metrics.routeFallbacks.inc({ model: modelName });
    }
    return { model: this.store.resolve(modelName, modelVersion) };
  }

  private async answer(
    request: ModelInferRequest,
    route: RoutedModels,
    span: Span | undefined,
    scored: { outputs?: ModelOutputs; inputs?: InputColumns },
  ): Promise<ModelInferResponse> {
    const loaded = this.resolve(request.modelName, request.modelVersion, route.model);
    span?.setAttribute(KeelAttr.MODEL_VERSION, loaded.version);
    const inputs = await this.decode(request, loaded);
    span?.setAttribute(KeelAttr.BATCH_SIZE, inputs.rows);
    scored.inputs = inputs;
    const selected = selectOutputs(request.outputs, loaded.outputs);
    const outputs = await this.predict(loaded, inputs);
    scored.outputs = outputs;
    const id = request.id || randomUUID();
    // The server names the prediction: unique whatever id the client sent, so replicas and clients never collide.
    const predictionId = randomUUID();
    span?.setAttribute(KeelAttr.PREDICTION_ID, predictionId);
    // Outputs mirror the request's encoding: raw inputs in, raw outputs out (what Triton's clients read).
    const sentRaw = (request.rawInputContents?.length ?? 0) > 0;
    const encoded = encodeOutputs(outputs, selected, inputs.rows, sentRaw);
    const response: ModelInferResponse = {
      modelName: loaded.pipelineId,
      modelVersion: String(loaded.version),
      id,
      parameters: { [PREDICTION_ID_PARAMETER]: { stringParam: predictionId } },
      outputs: encoded.outputs,
      rawOutputContents: encoded.rawOutputContents,
    };
    this.metrics.countRows(loaded.pipelineId, inputs.rows);
    const served = {
      pipelineId: loaded.pipelineId,
      modelVersion: loaded.version,
      predictionId,
      requestId: id,
      servedAt: new Date(),
      inputNames: loaded.inputNames,
      inputs,
      outputs,
    };
    const trace = context.active();
    this.predictionLog.schedule(served, trace);
    if (route.mirror && route.mirror !== loaded) {
      const mirror = route.mirror;
      // Off the response path: the mirror decodes (its own joins) and scores after the answer is sent.
      setImmediate(() => void this.mirror(mirror, { request, answeredBy: loaded, served }, trace));
    }
    return response;
  }

  /**
   * The request's inputs as the model's columns; for a model trained with point-in-time joins, its joined features
   * are filled from the tables' online views by the request's entity keys, as of now.
   */
  private async decode(request: ModelInferRequest, loaded: LoadedModel): Promise<InputColumns> {
    const { inputs, joins } = loaded.pkg.signature;
    const maxRows = this.config.SERVING_MAX_ROWS_PER_REQUEST;
    if (!joins?.length || !this.online) return decodeInferInputs(request, inputs, maxRows);
    // Only the views of joins the request needs looked up: one giving all of a join's features needs no view.
    const views = await this.online.viewsFor(loaded.pipelineId, joinLookups(request, inputs, joins));
    return decodeJoinedInputs(request, inputs, joins, views, Date.now(), maxRows);
  }

  /**
   * Scores the mirror version on its own inputs and logs it under the answered request's prediction ids. Its inputs
   * are the answered request's columns when both versions take the same point-in-time joins; otherwise the request is
   * decoded again with the mirror's own signature, joins and online views (a challenger whose join gained a feature
   * or changed its definition is scored on what it was trained to read, not on the champion's joined values).
   */
  private async mirror(
    mirror: LoadedModel,
    {
      request,
      answeredBy,
      served: answered,
    }: { request: ModelInferRequest; answeredBy: LoadedModel; served: ServedRequest },
    trace: Context,
  ): Promise<void> {
    const started = performance.now();
    let outputs: ModelOutputs | undefined;
    let inputs = answered.inputs;
    try {
      if (!sameJoins(mirror, answeredBy)) inputs = await this.decode(request, mirror);
      // In chunks, as answered requests are: a mirrored request at the row limit must not hold the loop either.
      outputs = await predictInChunks(mirror, inputs);
      this.predictionLog.schedule({ ...answered, modelVersion: mirror.version, inputs, outputs }, trace);
      this.router?.mirrored?.(mirror.pipelineId, {
        version: answered.modelVersion,
        mirrorVersion: mirror.version,
        predictionId: answered.predictionId,
        rows: answered.inputs.rows,
        answer: answered.outputs,
        mirror: outputs,
      });
    } catch (error) {
      // The mirror never reaches the caller: its failures (a category only the candidate refuses, a view of its own
      // joins not loaded) are counted by reason.
      this.metrics.mirrorFailures.inc({ model: mirror.pipelineId, reason: mirrorFailureReason(error) });
    }
    this.router?.observed?.(mirror.pipelineId, {
      version: mirror.version,
      code: outputs ? status.OK : status.INTERNAL,
      seconds: (performance.now() - started) / 1000,
      outputs,
      inputs,
      mirror: true,
    });
  }

  /** True when the model serves the given version number or alias (the champion when empty). */
  isModelReady(name: string, version?: string): boolean {
    return this.store.resolve(name, version) !== undefined;
  }

  isServerReady(): boolean {
    return this.store.isReady();
  }

  /**
   * The version a number or alias names (the champion when empty): inputs from its package signature (one column
   * tensor each, shape [-1]), outputs by task (multiclass `probability` [-1, k]); `versions` lists every version loaded, each callable by number.
   */
  metadata(name: string, version?: string): ModelMetadataResponse {
    const model = this.resolve(name, version, this.store.resolve(name, version));
    return {
      name: model.pipelineId,
      versions: this.store.versions(name).map(String),
      platform: 'keel',
      inputs: [
        ...model.pkg.signature.inputs.map((input) => ({ name: input.name, datatype: input.datatype, shape: [-1] })),
        // A model with point-in-time joins also takes each row's entity key (its joined features may be left out).
        ...entityKeyInputs(model).map((name) => ({ name, datatype: 'BYTES', shape: [-1] })),
      ],
      outputs: model.outputs.map((output) => ({
        name: output.name,
        datatype: output.datatype,
        shape: [-1, ...(output.shape ?? [])],
      })),
    };
  }

  /** The resolved model; UNAVAILABLE while it is still loading here; otherwise NOT_FOUND saying what is served. */
  private resolve(name: string, version: string | undefined, model: LoadedModel | undefined): LoadedModel {
    if (model) return model;
    const loading = this.store.loadingReason(name, version);
    if (loading !== undefined) throw new ModelLoadingError(`${loading}; retry shortly`);
    if (!this.store.has(name)) {
      throw new ModelNotFoundError(`model "${name}" is not loaded (unknown pipeline, or no champion yet)`);
    }
    const serving = [...this.store.aliases(name)].map(([alias, number]) => `${alias}=${number}`).join(', ');
    throw new ModelNotFoundError(
      `model "${name}" ${version ? `version "${version}"` : WellKnownAlias.CHAMPION} is not loaded; serving ${serving || 'no alias'} ` +
        `(versions ${this.store.versions(name).join(', ')})`,
    );
  }

  private async predict(model: LoadedModel, inputs: InputColumns): Promise<ModelOutputs> {
    try {
      return await this.batcher.predict(model, inputs);
    } catch (error) {
      // The package's preprocessing refuses categories it never saw: the caller's input, named.
      if (error instanceof UnknownCategoryError) {
        throw new ModelRefusedInputError(
          `input "${error.column}" has category ${JSON.stringify(error.value)}, unknown to model version ${model.version}`,
          error.column,
        );
      }
      throw error;
    }
  }
}

/** The entity keys a model's joins look its joined features up by, those that are not model inputs already. */
function entityKeyInputs(model: LoadedModel): string[] {
  const inputs = new Set(model.inputNames);
  return [...new Set((model.pkg.signature.joins ?? []).map((join) => join.entityKey))].filter(
    (key) => !inputs.has(key),
  );
}

/** Whether two versions take the same point-in-time joins (definitions and features), so the same joined inputs. */
function sameJoins(a: LoadedModel, b: LoadedModel): boolean {
  return JSON.stringify(a.pkg.signature.joins ?? []) === JSON.stringify(b.pkg.signature.joins ?? []);
}

/** The keel_serving_mirror_failures_total reason of a mirror's failure. */
function mirrorFailureReason(error: unknown): string {
  if (error instanceof OnlineViewUnavailableError) return 'view-unavailable';
  if (error instanceof InvalidInferInputError || error instanceof UnknownCategoryError) return 'input';
  return 'scoring';
}

/** The request's sticky routing key: the string parameter `keel_routing_key`, if given. */
function routingKeyOf(request: ModelInferRequest): string | undefined {
  const parameter = request.parameters?.[ROUTING_KEY_PARAMETER];
  return parameter?.stringParam || undefined;
}
