import type * as Ort from 'onnxruntime-node';
import { InvalidInputError, InvalidModelError } from '../core/errors';
import { type Matrix } from '../core/matrix';

/** One output tensor of an ONNX model run. */
export interface OnnxOutput {
  data: Float32Array | Float64Array | BigInt64Array | Int32Array;
  dims: readonly number[];
}

/**
 * An ONNX model trained elsewhere (scikit-learn via skl2onnx, LightGBM/XGBoost via onnxmltools,
 * or our own {@link exportOnnx}) served through onnxruntime-node on the CPU. The graph must take
 * one float tensor [N, nFeatures] and return tensors (convert with `zipmap=False`: sequences of
 * maps are not supported by onnxruntime-node).
 */
export class OnnxModel {
  private constructor(
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
    readonly inputName: string,
    readonly outputNames: readonly string[],
  ) {}

  /** Load a model from its serialised bytes. onnxruntime-node is loaded on first use only. */
  static async fromBytes(bytes: Uint8Array): Promise<OnnxModel> {
    const ort = await import('onnxruntime-node');
    let session: Ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        logSeverityLevel: 3,
      });
    } catch (e) {
      throw new InvalidModelError(`onnxruntime rejected the model: ${(e as Error).message}`);
    }
    if (session.inputNames.length !== 1) {
      throw new InvalidModelError(`expected one input, the model has ${session.inputNames.length}`);
    }
    return new OnnxModel(ort, session, session.inputNames[0], session.outputNames);
  }

  /** Run a batch; returns every output tensor by name. */
  async run(x: Matrix): Promise<Record<string, OnnxOutput>> {
    if (x.data.length !== x.nRows * x.nCols) throw new InvalidInputError('matrix data does not match its shape');
    const input = new this.ort.Tensor('float32', x.data instanceof Float32Array ? x.data : Float32Array.from(x.data), [
      x.nRows,
      x.nCols,
    ]);
    let result: Ort.InferenceSession.ReturnType;
    try {
      result = await this.session.run({ [this.inputName]: input });
    } catch (e) {
      throw new InvalidInputError(`onnxruntime failed: ${(e as Error).message}`);
    }
    const out: Record<string, OnnxOutput> = {};
    for (const name of this.outputNames) {
      const t = result[name];
      out[name] = { data: t.data as OnnxOutput['data'], dims: t.dims };
    }
    return out;
  }

  /**
   * Batch class probabilities: the first float output of shape [N, K], as `N × K` row-major
   * float64 (classifiers exported with `zipmap=False` name it `probabilities`).
   */
  async predictProba(x: Matrix): Promise<{ data: Float64Array; width: number }> {
    const outputs = await this.run(x);
    for (const name of this.outputNames) {
      const o = outputs[name];
      if (o.data instanceof Float32Array && o.dims.length === 2 && o.dims[0] === x.nRows) {
        return { data: Float64Array.from(o.data), width: o.dims[1] };
      }
    }
    throw new InvalidModelError(`no [N, K] float output among ${this.outputNames.join(', ')}`);
  }

  /** Release the native session. */
  async dispose(): Promise<void> {
    await this.session.release();
  }
}
