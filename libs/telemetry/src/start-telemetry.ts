import { diag, DiagConsoleLogger, DiagLogLevel } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { KafkaJsInstrumentation } from '@opentelemetry/instrumentation-kafkajs';
import { MongoDBInstrumentation } from '@opentelemetry/instrumentation-mongodb';
import { NestInstrumentation } from '@opentelemetry/instrumentation-nestjs-core';
import { PinoInstrumentation } from '@opentelemetry/instrumentation-pino';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type Sampler } from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { loadConfig } from '@keel/config';
import { z } from 'zod';
import { setServiceTracerName } from './with-span';

const telemetryEnvSchema = z.object({
  OTEL_SDK_DISABLED: z.enum(['true', 'false']).default('false'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().default('http://127.0.0.1:4318'),
  /** Batch delay: short by default so a pipeline run is visible in Jaeger within a second or two. */
  OTEL_BSP_SCHEDULE_DELAY: z.coerce.number().int().positive().default(1_000),
  KEEL_VERSION: z.string().default('0.1.0'),
});

/** Handle on the running SDK: flush before reading Jaeger in tests, shut down last on exit. */
export interface Telemetry {
  readonly enabled: boolean;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** What a service may shape of its tracing; everything else is the platform's one setup. */
export interface TelemetryOptions {
  /** Head sampler of the service's spans; default the SDK's (parent-based, always on, or OTEL_TRACES_SAMPLER). */
  sampler?: Sampler;
  /** gRPC server methods (by name, e.g. `ModelInfer`) whose spans the service opens itself instead of the instrumentation. */
  ownGrpcServerSpans?: string[];
}

const disabled: Telemetry = { enabled: false, forceFlush: async () => undefined, shutdown: async () => undefined };

function warn(message: string): void {
  // Telemetry starts before the app's logger exists, so stderr is the only channel.
  process.stderr.write(`${JSON.stringify({ level: 'warn', msg: `telemetry: ${message}` })}\n`);
}

/**
 * Starts OpenTelemetry tracing for a service. Must run before NestJS, kafkajs, mongoose or grpc are loaded, so
 * instrumentation can patch them: apps import their `telemetry.ts` as the first line of `main.ts`.
 *
 * Telemetry never crashes the app: a bad setting logs a warning and tracing stays off.
 */
export function startTelemetry(
  serviceName: string,
  env: Record<string, string | undefined> = process.env,
  options: TelemetryOptions = {},
): Telemetry {
  setServiceTracerName(serviceName);
  try {
    const config = loadConfig(telemetryEnvSchema, env);
    if (config.OTEL_SDK_DISABLED === 'true') return disabled;
    diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.ERROR);
    const exporter = new OTLPTraceExporter({
      url: `${config.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, '')}/v1/traces`,
    });
    const spanProcessor = new BatchSpanProcessor({ exporter, scheduledDelayMillis: config.OTEL_BSP_SCHEDULE_DELAY });
    const sdk = new NodeSDK({
      resource: resourceFromAttributes({
        [ATTR_SERVICE_NAME]: serviceName,
        [ATTR_SERVICE_VERSION]: config.KEEL_VERSION,
        'service.namespace': 'keel',
      }),
      spanProcessors: [spanProcessor],
      // Attribute values cut at 2,048 characters: spans carry request fields (a model name of megabytes), and the
      // exporter serializes them on the event loop (npm run fuzz:live).
      spanLimits: { attributeValueLengthLimit: 2_048 },
      ...(options.sampler ? { sampler: options.sampler } : {}),
      // Traces only: with default metric and log exporters the SDK retries localhost:4318 for seconds at shutdown.
      metricReaders: [],
      logRecordProcessors: [],
      instrumentations: [
        new HttpInstrumentation({
          ignoreIncomingRequestHook: (request) => /^\/(health|metrics)/.test(request.url ?? ''),
        }),
        new ExpressInstrumentation(),
        new NestInstrumentation(),
        new GrpcInstrumentation({ ignoreGrpcMethods: ['Check', 'Watch', ...(options.ownGrpcServerSpans ?? [])] }),
        new KafkaJsInstrumentation(),
        // One span per database operation: the driver's. Mongoose's instrumentation would wrap each one again.
        new MongoDBInstrumentation(),
        new PinoInstrumentation(),
      ],
    });
    sdk.start();
    return {
      enabled: true,
      forceFlush: () => spanProcessor.forceFlush().catch((error: unknown) => warn(`flush failed: ${String(error)}`)),
      shutdown: () => sdk.shutdown().catch((error: unknown) => warn(`shutdown failed: ${String(error)}`)),
    };
  } catch (error) {
    warn(`tracing disabled: ${error instanceof Error ? error.message : String(error)}`);
    return disabled;
  }
}
