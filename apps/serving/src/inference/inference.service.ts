import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { status } from '@grpc/grpc-js';
import { UnknownCategoryError } from '@keel/ml-models';
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { type LoadedModel, type ModelOutputs } from '../models/loaded-model';
import { ModelStore } from '../models/model-store';
import { grpcStatusOf, ModelNotFoundError, statusName } from './inference-errors';
import { InferenceMetrics } from './inference-metrics';
import { type ModelInferRequest, type ModelInferResponse, type ModelMetadataResponse } from './oip-types';
import { encodeOutputs, selectOutputs } from './output-codec';
import { PredictionLogService } from './prediction-log.service';
import { decodeInferInputs, InvalidInferInputError, type InputRow } from './tensor-codec';

const tracer = trace.getTracer('keel-serving');

/** Open Inference Protocol v2 semantics over the loaded models; transport-free so it is testable alone. */
@Injectable()
export class InferenceService {
  constructor(
    private readonly store: ModelStore,
    private readonly metrics: InferenceMetrics,
    private readonly predictionLog: PredictionLogService,
  ) {}

  /**
   * Decodes, predicts and encodes one request synchronously, then schedules its prediction log. Throws
   * InvalidInferInputError (INVALID_ARGUMENT) or ModelNotFoundError (NOT_FOUND) for the caller's mistakes.
   */
  infer(request: ModelInferRequest): ModelInferResponse {
    const started = performance.now();
    // Read the reference once: a swap during this request does not change the model it uses.
    const model = this.store.get(request.model_name);
    // Unknown names stay out of the label set so callers cannot explode metric cardinality.
    const label = model ? model.pipelineId : 'unknown';
    let code = status.OK;
    try {
      return tracer.startActiveSpan('model infer', (span) => {
        span.setAttribute('keel.model', request.model_name);
        try {
          const loaded = this.resolve(request.model_name, request.model_version, model);
          span.setAttribute('keel.model_version', loaded.version);
          const rows = decodeInferInputs(request, loaded.pkg.signature.inputs);
          span.setAttribute('keel.rows', rows.length);
          const selected = selectOutputs(request.outputs, loaded.outputs);
          const outputs = this.predict(loaded, rows);
          const id = request.id || randomUUID();
          const response: ModelInferResponse = {
            model_name: loaded.pipelineId,
            model_version: String(loaded.version),
            id,
            outputs: encodeOutputs(outputs, selected, rows.length),
          };
          this.metrics.rows.inc({ model: label }, rows.length);
          this.predictionLog.schedule(
            {
              pipelineId: loaded.pipelineId,
              requestId: id,
              modelVersion: loaded.version,
              servedAt: new Date(),
              rows,
              outputs,
            },
            context.active(),
          );
          return response;
        } catch (error) {
          code = grpcStatusOf(error);
          span.setAttribute('rpc.grpc.status_code', code);
          if (code === status.INTERNAL) span.recordException(error as Error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
          throw error;
        } finally {
          span.end();
        }
      });
    } finally {
      const labels = { model: label, status: statusName(code) };
      this.metrics.requests.inc(labels);
      this.metrics.latency.observe(labels, (performance.now() - started) / 1000);
    }
  }

  /** True when the model is loaded, at the given version if one is asked for. */
  isModelReady(name: string, version?: string): boolean {
    const model = this.store.get(name);
    return !!model && (!version || version === String(model.version));
  }

  isServerReady(): boolean {
    return this.store.isReady();
  }

  /** Inputs from the package signature (one column tensor each, shape [-1]); outputs by task. */
  metadata(name: string, version?: string): ModelMetadataResponse {
    const model = this.resolve(name, version, this.store.get(name));
    return {
      name: model.pipelineId,
      versions: [String(model.version)],
      platform: 'keel',
      inputs: model.pkg.signature.inputs.map((input) => ({ name: input.name, datatype: input.datatype, shape: [-1] })),
      outputs: model.outputs.map((output) => ({ name: output.name, datatype: output.datatype, shape: [-1] })),
    };
  }

  private resolve(name: string, version: string | undefined, model: LoadedModel | undefined): LoadedModel {
    if (!model) throw new ModelNotFoundError(`model "${name}" is not loaded (unknown pipeline, or no champion yet)`);
    if (version && version !== String(model.version)) {
      throw new ModelNotFoundError(`model "${name}" version "${version}" is not loaded; serving ${model.version}`);
    }
    return model;
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
