import 'reflect-metadata';
import { type INestApplication, Module, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type NestExpressApplication } from '@nestjs/platform-express';
import {
  ConfigError,
  loadConfig,
  platformConfigProblems,
  type ServiceConfig,
  type serviceEnvSchema,
} from '@keel/config';
import { checkJsonDepth } from '@keel/contracts';
import { type Telemetry } from '@keel/telemetry';
import { Logger as NestPinoLogger } from 'nestjs-pino';
import { GrpcServer } from './grpc/grpc-server';
import { grpcServerCredentials } from './grpc/tls';
import { HealthRegistry } from './health/health-registry';
import { createRootLogger } from './logging';
import { ServiceRuntimeModule } from './service-runtime.module';

export interface ServiceSpec<Schema extends ReturnType<typeof serviceEnvSchema>> {
  name: string;
  version?: string;
  envSchema: Schema;
  /** The app's own feature module(s). */
  features: Type<unknown>[];
  telemetry: Telemetry;
  env?: Record<string, string | undefined>;
}

/** A running service, for tests and for the process entry point. */
export interface RunningService {
  app: INestApplication;
  config: ServiceConfig;
  httpPort: number;
  grpcPort?: number;
  /** Readiness down, intake stopped, work in flight finished, buffers flushed, connections closed; bounded. */
  stop(): Promise<void>;
}

/**
 * Boots one Keel service: validates its environment (exiting with a message that names every bad variable), builds
 * the Nest app with the shared runtime, listens on HTTP (and gRPC when configured), and stops gracefully: readiness
 * goes down first (and stays down for SHUTDOWN_DRAIN_DELAY_MS so traffic moves away), then Nest's shutdown runs in
 * its order (module destroy: consumers stop fetching and finish their records, gRPC drains its calls; before
 * shutdown: apps flush what they buffered; application shutdown: producer and connections close), then telemetry
 * flushes, all within SHUTDOWN_TIMEOUT_MS.
 */
export async function startService<Schema extends ReturnType<typeof serviceEnvSchema>>(
  spec: ServiceSpec<Schema>,
): Promise<RunningService> {
  const config = loadConfig(spec.envSchema, spec.env) as ServiceConfig;
  const problems = platformConfigProblems(config);
  if (problems.length > 0) throw new ConfigError(problems);
  const logger = createRootLogger(spec.name, config.LOG_LEVEL);
  const identity = { name: spec.name, version: spec.version ?? '0.1.0' };

  @Module({
    imports: [
      ServiceRuntimeModule.forRoot({
        identity,
        config,
        logger,
        grpc: {
          host: config.GRPC_HOST,
          port: config.GRPC_PORT,
          maxReceiveBytes: config.GRPC_MAX_RECEIVE_BYTES,
          credentials: config.GRPC_PORT === undefined ? undefined : grpcServerCredentials(config),
        },
      }),
      ...spec.features,
    ],
  })
  class ServiceRootModule {}

  // Body parsers registered here rather than by Nest's defaults, to size the JSON limit from the environment and to
  // leave alone bodies that only start with JSON (the Open Inference Protocol's binary extension declares its JSON
  // header's length): their handler reads them whole.
  const app = await NestFactory.create<NestExpressApplication>(ServiceRootModule, {
    bufferLogs: true,
    abortOnError: false,
    bodyParser: false,
  });
  app.useBodyParser('json', {
    limit: config.HTTP_MAX_JSON_BYTES,
    type: (request) =>
      /^application\/([\w.+-]+\+)?json\b/i.test(request.headers['content-type'] ?? '') &&
      request.headers['inference-header-content-length'] === undefined,
    // Nesting is bounded before JSON.parse builds the value (JSON_MAX_DEPTH): one pass over the bytes, 400 if deeper.
    verify: (_request: unknown, _response: unknown, body: Buffer) => {
      try {
        checkJsonDepth(body, config.JSON_MAX_DEPTH);
      } catch (error) {
        throw Object.assign(error as Error, { status: 400, expose: true });
      }
    },
  });
  app.useBodyParser('urlencoded', { extended: true });
  app.useLogger(app.get(NestPinoLogger));
  await app.listen(config.HTTP_PORT, config.HTTP_HOST);
  const httpPort = Number(new URL(await app.getUrl()).port);
  const grpcPort = app.get(GrpcServer).boundPort;
  logger.info({ httpPort, grpcPort }, `${spec.name} started`);

  const health = app.get(HealthRegistry);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info('shutting down');
      health.beginShutdown();
      const deadline = new Promise<'timeout'>((resolve) =>
        setTimeout(() => resolve('timeout'), config.SHUTDOWN_TIMEOUT_MS).unref(),
      );
      const drained = (async () => {
        if (config.SHUTDOWN_DRAIN_DELAY_MS > 0) {
          await new Promise((resolve) => setTimeout(resolve, config.SHUTDOWN_DRAIN_DELAY_MS));
        }
        await app.close();
        return 'closed' as const;
      })();
      if ((await Promise.race([drained, deadline])) === 'timeout') {
        logger.warn({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'graceful shutdown timed out');
      }
      await spec.telemetry.shutdown();
    })());
  return { app, config, httpPort, grpcPort, stop };
}

/**
 * Process entry point: start, and stop on SIGTERM/SIGINT (exit 0). A bad environment exits 78 (EX_CONFIG); a fatal
 * condition the runtime detects (a consumer that could not be restarted) makes liveness fail at once, then stops the
 * service and exits 1, so the supervisor starts a fresh process.
 */
export function runService<Schema extends ReturnType<typeof serviceEnvSchema>>(spec: ServiceSpec<Schema>): void {
  startService(spec).then(
    (service) => {
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        process.once(signal, () => {
          void service.stop().finally(() => process.exit(0));
        });
      }
      service.app.get(HealthRegistry).onFatal((reason) => {
        process.stderr.write(`${JSON.stringify({ level: 'fatal', service: spec.name, msg: reason })}\n`);
        void service.stop().finally(() => process.exit(1));
      });
    },
    (error: unknown) => {
      const configError = error instanceof ConfigError;
      process.stderr.write(
        `${JSON.stringify({
          level: 'fatal',
          service: spec.name,
          msg: configError ? error.message : `failed to start: ${error instanceof Error ? error.stack : String(error)}`,
        })}\n`,
      );
      void spec.telemetry.shutdown().finally(() => process.exit(configError ? 78 : 1));
    },
  );
}
