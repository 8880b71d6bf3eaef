import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { status } from '@grpc/grpc-js';
import { WellKnownAlias } from '@keel/contracts';
import { UnknownCategoryError } from '@keel/ml-models';
import { type ModelInferRequest, type ModelInferResponse, type ModelMetadataResponse } from '@keel/grpc-api';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { context, type Span } from '@opentelemetry/api';
import { type LoadedModel, type ModelOutputs } from '../models/loaded-model';
import { ModelStore } from '../models/model-store';
import { grpcStatusOf, ModelNotFoundError, statusName } from './inference-errors';
import { InferenceMetrics } from './inference-metrics';
import { encodeOutputs, selectOutputs, toRawOutputs } from './output-codec';
import { PredictionLogService } from './prediction-log.service';
import { decodeInferInputs, InvalidInferInputError, type InputRow } from './tensor-codec';

/**
 * The response parameter naming the request's prediction; row i's prediction id (the key of its prediction log and of
 * the label that later reports its outcome) is `<prediction_id>-<i>`.
 */
export const PREDICTION_ID_PARAMETER = 'prediction_id';

/** The server's name in ServerMetadata, over gRPC and REST. */
export const SERVER_NAME = 'keel-serving';

/** Open Inference Protocol v2 semantics over the loaded models; transport-free so it is testable alone. */
@Injectable()
export class InferenceService {
  constructor(
    private readonly store: ModelStore,
    private readonly metrics: InferenceMetrics,
    private readonly predictionLog: PredictionLogService,
  ) {}

  /**
   * Decodes, predicts and encodes one request, then schedules its prediction log. Rejects with
   * InvalidInferInputError (INVALID_ARGUMENT) or ModelNotFoundError (NOT_FOUND) for the caller's mistakes.
   */
  async infer(request: ModelInferRequest): Promise<ModelInferResponse> {
    const started = performance.now();
    // Resolve once: an alias moving during this request does not change the model it uses.
    const model = this.store.resolve(request.modelName, request.modelVersion);
    // Unknown names stay out of the label set so callers cannot explode metric cardinality.
    const label = model ? model.pipelineId : 'unknown';
    let code = status.OK;
    try {
      return await withSpan(
        'model infer',
        { [KeelAttr.MODEL_NAME]: request.modelName },
        (span) => {
          try {
            return this.answer(request, model, span);
          } catch (error) {
            code = grpcStatusOf(error);
            span.setAttribute('rpc.grpc.status_code', code);
            throw error;
          }
        },
        // The caller's mistakes are correct answers, not failures of the service.
        { isFailure: (error) => grpcStatusOf(error) === status.INTERNAL },
      );
    } finally {
      const labels = { model: label, status: statusName(code) };
      this.metrics.requests.inc(labels);
      this.metrics.latency.observe(labels, (performance.now() - started) / 1000);
    }
  }

  private answer(request: ModelInferRequest, model: LoadedModel | undefined, span: Span): ModelInferResponse {
    const loaded = this.resolve(request.modelName, request.modelVersion, model);
    span.setAttribute(KeelAttr.MODEL_VERSION, loaded.version);
    const rows = decodeInferInputs(request, loaded.pkg.signature.inputs);
    span.setAttribute(KeelAttr.BATCH_SIZE, rows.length);
    const selected = selectOutputs(request.outputs, loaded.outputs);
    const outputs = this.predict(loaded, rows);
    const id = request.id || randomUUID();
    // The server names the prediction: unique whatever id the client sent, so replicas and clients never collide.
    const predictionId = randomUUID();
    span.setAttribute(KeelAttr.PREDICTION_ID, predictionId);
    const encoded = encodeOutputs(outputs, selected, rows.length);
    // Outputs mirror the request's encoding: raw inputs in, raw outputs out (what Triton's clients read).
    const sentRaw = (request.rawInputContents?.length ?? 0) > 0;
    const response: ModelInferResponse = {
      modelName: loaded.pipelineId,
      modelVersion: String(loaded.version),
      id,
      parameters: { [PREDICTION_ID_PARAMETER]: { stringParam: predictionId } },
      ...(sentRaw ? toRawOutputs(encoded) : { outputs: encoded, rawOutputContents: [] }),
    };
    this.metrics.rows.inc({ model: loaded.pipelineId }, rows.length);
    this.predictionLog.schedule(
      {
        pipelineId: loaded.pipelineId,
        modelVersion: loaded.version,
        predictionId,
        requestId: id,
        servedAt: new Date(),
        inputNames: loaded.inputNames,
        rows,
        outputs,
      },
      context.active(),
    );
    return response;
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
   * tensor each, shape [-1]), outputs by task; `versions` lists every version loaded, each callable by number.
   */
  metadata(name: string, version?: string): ModelMetadataResponse {
    const model = this.resolve(name, version, this.store.resolve(name, version));
    return {
      name: model.pipelineId,
      versions: this.store.versions(name).map(String),
      platform: 'keel',
      inputs: model.pkg.signature.inputs.map((input) => ({ name: input.name, datatype: input.datatype, shape: [-1] })),
      outputs: model.outputs.map((output) => ({ name: output.name, datatype: output.datatype, shape: [-1] })),
    };
  }

  /** The resolved model, or NOT_FOUND saying what is served instead. */
  private resolve(name: string, version: string | undefined, model: LoadedModel | undefined): LoadedModel {
    if (model) return model;
    if (!this.store.has(name)) {
      throw new ModelNotFoundError(`model "${name}" is not loaded (unknown pipeline, or no champion yet)`);
    }
    const serving = [...this.store.aliases(name)].map(([alias, number]) => `${alias}=${number}`).join(', ');
    throw new ModelNotFoundError(
      `model "${name}" ${version ? `version "${version}"` : WellKnownAlias.CHAMPION} is not loaded; serving ${serving || 'no alias'} ` +
        `(versions ${this.store.versions(name).join(', ')})`,
    );
  }

  private predict(model: LoadedModel, rows: readonly InputRow[]): ModelOutputs {
    try {
      return model.predict(rows);
    } catch (error) {
      // The package's preprocessing refuses categories it never saw: the caller's input, named.
      if (error instanceof UnknownCategoryError) {
        throw new InvalidInferInputError(
          `input "${error.column}" has category ${JSON.stringify(error.value)}, unknown to this model`,
          error.column,
        );
      }
      throw error;
    }
  }
}
