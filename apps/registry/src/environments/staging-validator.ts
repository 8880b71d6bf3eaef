import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import {
  GRPCInferenceServiceClient,
  ModelInferRequest,
  type ModelInferRequest_InferInputTensor,
  ModelReadyRequest,
} from '@keel/grpc-api';
import { type ModelPackage, parsePackage } from '@keel/model-package';
import {
  grpcChannelCredentials,
  Infrastructure,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  serviceAuthorization,
} from '@keel/service-runtime';
import { type Logger } from 'pino';
import { type RegistryConfig } from '../config';
import { ModelVersionsRepository } from '../models/model-versions.repository';
import { type AnalysisVerdict } from '../rollouts/rollout-analysis';
import { type Rollout } from '../rollouts/rollout-machine';

/** Longest one sample request may take before it counts as failed. */
const SAMPLE_DEADLINE_MS = 5_000;

type Cell = number | string | null;

/**
 * Sample rows drawn from the package's drift reference (its training data): numeric features walk their quantile
 * edges, categorical ones their categories by frequency, each feature from its own offset so rows mix values. Every
 * value is one training saw, so a healthy candidate answers each.
 */
export function sampleRows(pkg: ModelPackage, count: number): Record<string, Cell>[] {
  const pools = pkg.signature.inputs.map((input) => {
    const reference = pkg.reference[input.name];
    if (reference?.kind === 'numeric') {
      const edges = reference.summary.edges.filter((edge) => Number.isFinite(edge));
      return edges.length > 0 ? edges : [reference.summary.mean];
    }
    if (reference?.kind === 'categorical') {
      const counts = [...reference.summary.counts].sort((a, b) => b[1] - a[1]).map(([value]) => value);
      return counts.length > 0 ? counts : [null];
    }
    return [input.kind === 'numeric' ? 0 : null];
  });
  return Array.from({ length: count }, (_, row) =>
    Object.fromEntries(pkg.signature.inputs.map((input, i) => [input.name, pools[i][(row + 7 * i) % pools[i].length]])),
  );
}

/** One row as Open Inference Protocol tensors (one column each), typed by the package's signature. */
export function rowTensors(pkg: ModelPackage, row: Record<string, Cell>): ModelInferRequest_InferInputTensor[] {
  return pkg.signature.inputs.map((input) => {
    const value = row[input.name];
    return input.datatype === 'BYTES'
      ? {
          name: input.name,
          datatype: 'BYTES',
          shape: [1],
          parameters: {},
          contents: contents({ bytesContents: [Buffer.from(value === null ? '' : String(value))] }),
        }
      : {
          name: input.name,
          datatype: 'FP64',
          shape: [1],
          parameters: {},
          contents: contents({ fp64Contents: [value === null ? NaN : Number(value)] }),
        };
  });
}

function contents(partial: Partial<NonNullable<ModelInferRequest_InferInputTensor['contents']>>) {
  return {
    boolContents: [],
    intContents: [],
    int64Contents: [],
    uintContents: [],
    uint64Contents: [],
    fp32Contents: [],
    fp64Contents: [],
    bytesContents: [],
    ...partial,
  };
}

/**
 * The staging trial (TFX InfraValidator's idea): the candidate, loaded by the staging environment's serving under the
 * `staging` alias, must be ready within the plan's `loadTimeoutSeconds` and answer `sampleRequests` requests drawn
 * from its training reference, one at a time, every one of them, with a p99 within `maxP99LatencyMs`. A version that
 * cannot load, fails a request or breaches the budget is rejected and never reaches production.
 */
@Injectable()
export class StagingValidator implements OnModuleDestroy {
  private readonly logger: Logger;
  private readonly client?: GRPCInferenceServiceClient;
  private readonly authorization?: string;

  constructor(
    private readonly infra: Infrastructure,
    private readonly versions: ModelVersionsRepository,
    @Inject(SERVICE_CONFIG) config: RegistryConfig,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'staging-validator' });
    this.authorization = serviceAuthorization(config);
    if (config.STAGING_SERVING_GRPC_URL) {
      this.client = new GRPCInferenceServiceClient(config.STAGING_SERVING_GRPC_URL, grpcChannelCredentials(config));
    }
  }

  /** Whether staging trials run here (else a person or another tool posts their result). */
  get enabled(): boolean {
    return this.client !== undefined;
  }

  onModuleDestroy(): void {
    this.client?.close();
  }

  /** The trial of a rollout in `staging`: wait while the candidate loads, then pass or fail it on sample traffic. */
  async trial(rollout: Rollout, now = new Date()): Promise<AnalysisVerdict> {
    const { modelName, candidateVersion: version, plan } = rollout;
    const budget = plan.staging;
    const ready = await this.call<{ ready: boolean }>(
      'modelReady',
      ModelReadyRequest.fromPartial({ name: modelName, version: String(version) }),
    ).then(
      (answer) => answer.ready,
      () => false,
    );
    if (!ready) {
      const waited = (now.getTime() - new Date(rollout.enteredAt).getTime()) / 1000;
      return waited >= budget.loadTimeoutSeconds
        ? { outcome: 'fail', reason: `v${version} did not load in staging within ${budget.loadTimeoutSeconds} s` }
        : { outcome: 'wait', reason: `v${version} is loading in staging (${Math.round(waited)} s)` };
    }
    const record = await this.versions.find(modelName, version);
    if (!record) return { outcome: 'fail', reason: `model "${modelName}" has no version ${version}` };
    const pkg = parsePackage(
      await this.infra.objects.getVerified({ uri: record.packageUri, sha256: record.packageSha256 }),
    );
    const latencies: number[] = [];
    const failures: string[] = [];
    for (const row of sampleRows(pkg, budget.sampleRequests)) {
      const started = performance.now();
      try {
        await this.call(
          'modelInfer',
          ModelInferRequest.fromPartial({ modelName, modelVersion: String(version), inputs: rowTensors(pkg, row) }),
        );
        latencies.push(performance.now() - started);
      } catch (error) {
        failures.push((error as ServiceError).details ?? String(error));
      }
    }
    if (failures.length > 0) {
      return {
        outcome: 'fail',
        reason: `v${version} failed ${failures.length} of ${budget.sampleRequests} sample requests in staging: ${failures[0]}`,
      };
    }
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.max(0, Math.ceil(0.99 * latencies.length) - 1)];
    const figures = `p99 ${p99.toFixed(1)} ms over ${latencies.length} sample requests`;
    this.logger.info({ modelName, version, p99 }, 'staging trial');
    return p99 > budget.maxP99LatencyMs
      ? {
          outcome: 'fail',
          reason: `v${version} breached the staging latency budget: ${figures} > ${budget.maxP99LatencyMs} ms`,
        }
      : {
          outcome: 'pass',
          reason: `v${version} loaded in staging and answered: ${figures} ≤ ${budget.maxP99LatencyMs} ms`,
        };
  }

  private call<T>(method: 'modelReady' | 'modelInfer', request: unknown): Promise<T> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('STAGING_SERVING_GRPC_URL is not set'));
    const metadata = new Metadata();
    if (this.authorization) metadata.set('authorization', this.authorization);
    return new Promise<T>((resolve, reject) => {
      const unary = client[method].bind(client) as unknown as (
        request: unknown,
        metadata: Metadata,
        options: { deadline: Date },
        callback: (error: ServiceError | null, response: T) => void,
      ) => unknown;
      unary(request, metadata, { deadline: new Date(Date.now() + SAMPLE_DEADLINE_MS) }, (error, response) =>
        error ? reject(error) : resolve(response),
      );
    });
  }
}
