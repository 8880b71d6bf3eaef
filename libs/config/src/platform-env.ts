import { z } from 'zod';
import { envBoolean, envPort } from './load-config';

/** The local stack's object-store credentials: defaults in the dev profile only. */
const DEV_CREDENTIALS = { S3_ACCESS_KEY: 'keeladmin', S3_SECRET_KEY: 'keeladmin-secret' } as const;

/**
 * Variables every service reads. Defaults point at the local stack (`npm run stack:up`), so a developer needs no
 * environment at all; docker-compose and Kubernetes set them explicitly. Apps extend this schema with their own ports.
 */
export const platformEnvSchema = z.object({
  /**
   * `dev` (the default) may run without authentication, for a developer's loopback; `prod` refuses to start unless
   * callers must authenticate (AUTH_API_KEYS_FILE and/or AUTH_JWKS_URL).
   */
  KEEL_PROFILE: z.enum(['dev', 'prod']).default('dev'),
  /** A JSON file of API keys ({ keys: [{ id, sha256, grants }] }, digests only); mount it from a secret. */
  AUTH_API_KEYS_FILE: z.string().min(1).optional(),
  /** JWKS of the OIDC provider whose bearer tokens are accepted; needs AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE. */
  AUTH_JWKS_URL: z.url().optional(),
  AUTH_JWT_ISSUER: z.string().min(1).optional(),
  AUTH_JWT_AUDIENCE: z.string().min(1).optional(),
  /** The token claim that lists the caller's grants (`role:pipeline`, `*` for every pipeline). */
  AUTH_JWT_GRANTS_CLAIM: z.string().min(1).default('keel_grants'),
  /** A file holding this service's own API key, sent when it calls another service (serving and monitoring call the registry). */
  SERVICE_API_KEY_FILE: z.string().min(1).optional(),
  /**
   * TLS for gRPC, PEM files mounted from secrets. With a certificate and its key the service serves gRPC over TLS and
   * presents the certificate when it calls another service; with a CA bundle as well, it requires and verifies client
   * certificates signed by that CA (mutual TLS) and verifies the servers it calls against it. Any of them set: the
   * service's gRPC clients use TLS. Unset: plaintext, as on the local stack or behind a mesh that does mTLS for us.
   */
  GRPC_TLS_CERT_FILE: z.string().min(1).optional(),
  GRPC_TLS_KEY_FILE: z.string().min(1).optional(),
  GRPC_TLS_CA_FILE: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Comma-separated Kafka bootstrap brokers. Use 127.0.0.1 rather than localhost: Kafka advertises what it binds. */
  KAFKA_BROKERS: z.string().min(1).default('127.0.0.1:9092'),
  /**
   * SASL for Kafka (the secure profile and any real cluster): the mechanism, this service's user, and a file holding
   * its password (mounted from a secret). Unset: no SASL, as on the default local stack.
   */
  KAFKA_SASL_MECHANISM: z.enum(['scram-sha-512', 'scram-sha-256', 'plain']).default('scram-sha-512'),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD_FILE: z.string().min(1).optional(),
  MONGO_URL: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// or mongodb+srv:// URL')
    .default('mongodb://127.0.0.1:27017/keel'),
  /**
   * This service's own database user and a file holding its password (mounted from a secret), so the password is in
   * neither the URL nor the environment. Unset: no authentication, as on the default local stack.
   */
  MONGO_USERNAME: z.string().min(1).optional(),
  MONGO_PASSWORD_FILE: z.string().min(1).optional(),
  /** The database that holds MONGO_USERNAME; `admin` is where operators and FerretDB keep users. */
  MONGO_AUTH_SOURCE: z.string().min(1).default('admin'),
  /** SCRAM variant; unset lets the driver negotiate with the server (SCRAM-SHA-256 when both support it). */
  MONGO_AUTH_MECHANISM: z.enum(['SCRAM-SHA-256', 'SCRAM-SHA-1']).optional(),
  S3_ENDPOINT: z.url().default('http://127.0.0.1:9000'),
  S3_ACCESS_KEY: z.string().min(3).default(DEV_CREDENTIALS.S3_ACCESS_KEY),
  S3_SECRET_KEY: z.string().min(8).default(DEV_CREDENTIALS.S3_SECRET_KEY),
  S3_REGION: z.string().min(1).default('us-east-1'),
  /** OTLP/HTTP endpoint of the trace collector (Jaeger v2 accepts OTLP directly). */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().default('http://127.0.0.1:4318'),
  OTEL_SDK_DISABLED: envBoolean.default(false),
  /** How long graceful shutdown may take before the process exits anyway. */
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /**
   * How long an instance stays up, unready, after SIGTERM before it stops taking work, so load balancers and
   * Kubernetes endpoints stop sending to it first. 0 locally; a few seconds in a cluster.
   */
  SHUTDOWN_DRAIN_DELAY_MS: z.coerce.number().int().min(0).default(0),
  /** First wait before retrying a record whose handler failed retryably; waits double from here. */
  RETRY_INITIAL_DELAY_MS: z.coerce.number().int().positive().default(500),
  /** Longest wait between two attempts at one record. */
  RETRY_MAX_DELAY_MS: z.coerce.number().int().positive().default(30_000),
  /**
   * How long a record may keep failing retryably before it is dead-lettered; well above a minute-long outage of any
   * server. Its partition is paused meanwhile, the others keep flowing.
   */
  RETRY_BUDGET_MS: z.coerce.number().int().positive().default(600_000),
  /** How long a crashed consumer may take to come back before the process exits for its supervisor to restart it. */
  CONSUMER_RESTART_TIMEOUT_MS: z.coerce.number().int().positive().default(300_000),
  /** How long processed-event ids are kept for deduplication; longer than any topic's retention. */
  PROCESSED_EVENT_RETENTION_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(14 * 24 * 3_600_000),
  /** How often expired processed-event ids are swept (a collection scan: the store has no TTL index). */
  PROCESSED_EVENT_SWEEP_INTERVAL_MS: z.coerce.number().int().positive().default(3_600_000),
  /** Replication factor of the topics Keel creates: 1 on the local single broker, 3 on a real cluster. */
  KAFKA_REPLICATION_FACTOR: z.coerce.number().int().min(1).max(32).default(1),
  /** `min.insync.replicas` of the topics Keel creates; at most the replication factor. */
  KAFKA_MIN_INSYNC_REPLICAS: z.coerce.number().int().min(1).max(32).default(1),
  /** Partitions of the topics Keel creates. */
  KAFKA_TOPIC_PARTITIONS: z.coerce.number().int().min(1).max(1_000).default(3),
  /**
   * Largest Kafka record (key, value and headers, in bytes) published or consumed; at most the broker's
   * `message.max.bytes` (1,048,588 by default) less batch overhead. A larger event is refused at publish, a larger
   * record consumed is dead-lettered unparsed, and a dead letter that would be larger goes to object storage behind a
   * pointer.
   */
  KAFKA_MAX_RECORD_BYTES: z.coerce.number().int().min(1_024).default(1_000_000),
  /** Deepest nesting of arrays and objects accepted in JSON and YAML documents: HTTP bodies, events, specs. */
  JSON_MAX_DEPTH: z.coerce.number().int().min(4).max(1_000).default(32),
});

export type PlatformConfig = z.infer<typeof platformEnvSchema>;

/**
 * Rules across platform variables, checked at start-up after the schema (a refined schema could no longer be
 * extended by the apps). Returns the problems in ConfigError's shape; empty when the values agree.
 */
export function platformConfigProblems(config: PlatformConfig): { variable: string; problem: string }[] {
  const problems: { variable: string; problem: string }[] = [];
  if (config.KAFKA_MIN_INSYNC_REPLICAS > config.KAFKA_REPLICATION_FACTOR) {
    problems.push({
      variable: 'KAFKA_MIN_INSYNC_REPLICAS',
      problem: `${config.KAFKA_MIN_INSYNC_REPLICAS} exceeds KAFKA_REPLICATION_FACTOR ${config.KAFKA_REPLICATION_FACTOR}: no write could ever be acknowledged`,
    });
  }
  if (Boolean(config.KAFKA_SASL_USERNAME) !== Boolean(config.KAFKA_SASL_PASSWORD_FILE)) {
    const variable = config.KAFKA_SASL_USERNAME ? 'KAFKA_SASL_PASSWORD_FILE' : 'KAFKA_SASL_USERNAME';
    problems.push({ variable, problem: 'KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD_FILE go together' });
  }
  if (config.KEEL_PROFILE === 'prod' && !config.AUTH_API_KEYS_FILE && !config.AUTH_JWKS_URL) {
    problems.push({
      variable: 'AUTH_API_KEYS_FILE',
      problem: 'KEEL_PROFILE=prod needs authentication: set AUTH_API_KEYS_FILE and/or AUTH_JWKS_URL',
    });
  }
  if (config.KEEL_PROFILE === 'prod' && !config.KAFKA_SASL_USERNAME) {
    // Without its own user the service is anonymous to the broker, which either refuses it or lets anyone do as it.
    problems.push({
      variable: 'KAFKA_SASL_USERNAME',
      problem: 'KEEL_PROFILE=prod needs Kafka credentials: set KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD_FILE',
    });
  }
  if (Boolean(config.GRPC_TLS_CERT_FILE) !== Boolean(config.GRPC_TLS_KEY_FILE)) {
    const variable = config.GRPC_TLS_CERT_FILE ? 'GRPC_TLS_KEY_FILE' : 'GRPC_TLS_CERT_FILE';
    problems.push({ variable, problem: 'GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE go together' });
  }
  if (config.GRPC_TLS_CA_FILE && !config.GRPC_TLS_CERT_FILE) {
    // Mutual TLS: a service that demands its callers' certificates must present its own when it calls them.
    problems.push({ variable: 'GRPC_TLS_CERT_FILE', problem: 'required with GRPC_TLS_CA_FILE (mutual TLS)' });
  }
  if (Boolean(config.MONGO_USERNAME) !== Boolean(config.MONGO_PASSWORD_FILE)) {
    const variable = config.MONGO_USERNAME ? 'MONGO_PASSWORD_FILE' : 'MONGO_USERNAME';
    problems.push({ variable, problem: 'MONGO_USERNAME and MONGO_PASSWORD_FILE go together' });
  }
  if (config.MONGO_USERNAME && mongoUrlHasCredentials(config.MONGO_URL)) {
    problems.push({
      variable: 'MONGO_URL',
      problem: 'holds credentials while MONGO_USERNAME is set: use one or the other',
    });
  }
  if (config.KEEL_PROFILE === 'prod' && !config.MONGO_USERNAME && !mongoUrlHasCredentials(config.MONGO_URL)) {
    // An unauthenticated database lets anyone who reaches it rewrite specs, aliases and evaluation records.
    problems.push({
      variable: 'MONGO_USERNAME',
      problem: 'KEEL_PROFILE=prod needs database credentials: set MONGO_USERNAME and MONGO_PASSWORD_FILE',
    });
  }
  if (config.KEEL_PROFILE === 'prod') {
    // The local stack's object-store credentials are code defaults, known to anyone who reads this file.
    for (const variable of ['S3_ACCESS_KEY', 'S3_SECRET_KEY'] as const) {
      if (config[variable] === DEV_CREDENTIALS[variable]) {
        problems.push({ variable, problem: 'is the dev default; KEEL_PROFILE=prod needs a real credential' });
      }
    }
  }
  if (config.AUTH_JWKS_URL) {
    for (const variable of ['AUTH_JWT_ISSUER', 'AUTH_JWT_AUDIENCE'] as const) {
      if (!config[variable]) {
        problems.push({ variable, problem: 'required with AUTH_JWKS_URL (tokens are checked against it)' });
      }
    }
  }
  if (config.RETRY_INITIAL_DELAY_MS > config.RETRY_MAX_DELAY_MS) {
    problems.push({
      variable: 'RETRY_INITIAL_DELAY_MS',
      problem: `${config.RETRY_INITIAL_DELAY_MS} exceeds RETRY_MAX_DELAY_MS ${config.RETRY_MAX_DELAY_MS}`,
    });
  }
  return problems;
}

/**
 * Environment schema of one service: the platform variables plus where it listens. The defaults are the service's
 * ports in the local stack; hosts default to loopback and containers set 0.0.0.0.
 */
export function serviceEnvSchema(defaults: {
  httpPort: number;
  grpcPort?: number;
  httpMaxJsonBytes?: number;
  grpcMaxReceiveBytes?: number;
}) {
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
    /**
     * Largest gRPC message the server reads; a larger one fails with RESOURCE_EXHAUSTED before it is decoded. 4 MiB
     * (grpc-js's own default) unless the service says otherwise: the registry's requests are a few hundred bytes,
     * and a message is decoded on the event loop. Serving takes 16 MiB of tensors (docs/security/fuzz.md).
     */
    GRPC_MAX_RECEIVE_BYTES: z.coerce
      .number()
      .int()
      .min(1_024)
      .default(defaults.grpcMaxReceiveBytes ?? 4 * 1024 * 1024),
  });
  return platformEnvSchema.extend(listen.shape);
}

export type ServiceConfig = z.infer<ReturnType<typeof serviceEnvSchema>>;

/** Whether a MongoDB connection string carries a user (`mongodb://user:password@host/...`). */
function mongoUrlHasCredentials(url: string): boolean {
  const authority = url.replace(/^mongodb(\+srv)?:\/\//, '').split(/[/?]/, 1)[0] ?? '';
  return authority.includes('@');
}
