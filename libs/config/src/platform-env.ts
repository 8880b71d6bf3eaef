import { z } from 'zod';
import { envBoolean, envPort } from './load-config';

/**
 * Variables every service reads. Defaults point at the local stack (`npm run stack:up`), so a developer needs no
 * environment at all; docker-compose and Kubernetes set them explicitly. Apps extend this schema with their own ports.
 */
export const platformEnvSchema = z.object({
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Comma-separated Kafka bootstrap brokers. Use 127.0.0.1 rather than localhost: Kafka advertises what it binds. */
  KAFKA_BROKERS: z.string().min(1).default('127.0.0.1:9092'),
  MONGO_URL: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// or mongodb+srv:// URL')
    .default('mongodb://127.0.0.1:27017/keel'),
  S3_ENDPOINT: z.url().default('http://127.0.0.1:9000'),
  S3_ACCESS_KEY: z.string().min(3).default('keeladmin'),
  S3_SECRET_KEY: z.string().min(8).default('keeladmin-secret'),
  S3_REGION: z.string().min(1).default('us-east-1'),
  /** OTLP/HTTP endpoint of the trace collector (Jaeger v2 accepts OTLP directly). */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().default('http://127.0.0.1:4318'),
  OTEL_SDK_DISABLED: envBoolean.default(false),
  /** How long graceful shutdown may take before the process exits anyway. */
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
});

export type PlatformConfig = z.infer<typeof platformEnvSchema>;

/**
 * Environment schema of one service: the platform variables plus where it listens. The defaults are the service's
 * ports in the local stack; hosts default to loopback and containers set 0.0.0.0.
 */
export function serviceEnvSchema(defaults: { httpPort: number; grpcPort?: number; httpMaxJsonBytes?: number }) {
  const listen = z.object({
    HTTP_HOST: z.string().min(1).default('127.0.0.1'),
    HTTP_PORT: envPort.default(defaults.httpPort),
    /** Largest JSON request body the HTTP API parses; larger ones get 413. */
    HTTP_MAX_JSON_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(defaults.httpMaxJsonBytes ?? 1024 * 1024),
    GRPC_HOST: z.string().min(1).default('127.0.0.1'),
    GRPC_PORT: defaults.grpcPort === undefined ? envPort.optional() : envPort.default(defaults.grpcPort),
  });
  return platformEnvSchema.extend(listen.shape);
}

export type ServiceConfig = z.infer<ReturnType<typeof serviceEnvSchema>>;
