import { describe, expect, it } from 'vitest';
import { loadConfig } from './load-config';
import { platformConfigProblems, platformEnvSchema } from './platform-env';

describe('platform environment', () => {
  it('defaults to the local single broker and a retry budget well above a minute-long outage', () => {
    const config = loadConfig(platformEnvSchema, {});
    expect(config).toMatchObject({ KAFKA_REPLICATION_FACTOR: 1, KAFKA_MIN_INSYNC_REPLICAS: 1 });
    expect(config.RETRY_BUDGET_MS).toBeGreaterThanOrEqual(5 * 60_000);
    expect(platformConfigProblems(config)).toEqual([]);
  });

  it('given min.insync.replicas above the replication factor, then start-up names both variables', () => {
    const config = loadConfig(platformEnvSchema, { KAFKA_REPLICATION_FACTOR: '3', KAFKA_MIN_INSYNC_REPLICAS: '4' });
    expect(platformConfigProblems(config)).toEqual([
      { variable: 'KAFKA_MIN_INSYNC_REPLICAS', problem: expect.stringMatching(/4 exceeds KAFKA_REPLICATION_FACTOR 3/) },
    ]);
  });

  it('given a first retry wait longer than the longest, then it is refused', () => {
    const config = loadConfig(platformEnvSchema, { RETRY_INITIAL_DELAY_MS: '60000', RETRY_MAX_DELAY_MS: '1000' });
    expect(platformConfigProblems(config).map((problem) => problem.variable)).toEqual(['RETRY_INITIAL_DELAY_MS']);
  });

  it('given a Kafka SASL user without its password file, then start-up names the missing variable', () => {
    const config = loadConfig(platformEnvSchema, { KAFKA_SASL_USERNAME: 'serving' });
    expect(platformConfigProblems(config).map((problem) => problem.variable)).toEqual(['KAFKA_SASL_PASSWORD_FILE']);
    const paired = loadConfig(platformEnvSchema, {
      KAFKA_SASL_USERNAME: 'serving',
      KAFKA_SASL_PASSWORD_FILE: '/etc/keel/kafka/password',
    });
    expect(platformConfigProblems(paired)).toEqual([]);
    expect(paired.KAFKA_SASL_MECHANISM).toBe('scram-sha-512');
  });

  it('given a database user without its password file, or with a URL that also holds one, then start-up says which', () => {
    const config = loadConfig(platformEnvSchema, { MONGO_USERNAME: 'keel-registry' });
    expect(platformConfigProblems(config).map((problem) => problem.variable)).toEqual(['MONGO_PASSWORD_FILE']);
    const twice = loadConfig(platformEnvSchema, {
      MONGO_URL: 'mongodb://keel-registry:secret@db.example:27017/keel',
      MONGO_USERNAME: 'keel-registry',
      MONGO_PASSWORD_FILE: '/etc/keel/mongo/password',
    });
    expect(platformConfigProblems(twice).map((problem) => problem.variable)).toEqual(['MONGO_URL']);
    const paired = loadConfig(platformEnvSchema, {
      MONGO_USERNAME: 'keel-registry',
      MONGO_PASSWORD_FILE: '/etc/keel/mongo/password',
    });
    expect(platformConfigProblems(paired)).toEqual([]);
    expect(paired.MONGO_AUTH_SOURCE).toBe('admin');
  });

  it('given the prod profile, then credentials in the URL count as database authentication, a bare host does not', () => {
    const prod = {
      KEEL_PROFILE: 'prod',
      AUTH_API_KEYS_FILE: '/run/secrets/keys.json',
      KAFKA_SASL_USERNAME: 'registry',
      KAFKA_SASL_PASSWORD_FILE: '/run/secrets/kafka-password',
      S3_ACCESS_KEY: 'keel-registry',
      S3_SECRET_KEY: 'a-long-generated-secret',
    };
    const variables = (env: Record<string, string>) =>
      platformConfigProblems(loadConfig(platformEnvSchema, { ...prod, ...env })).map((problem) => problem.variable);
    expect(variables({ MONGO_URL: 'mongodb://db.example:27017/keel' })).toEqual(['MONGO_USERNAME']);
    // An '@' in the query string is not a user.
    expect(variables({ MONGO_URL: 'mongodb://db.example/keel?appName=a@b' })).toEqual(['MONGO_USERNAME']);
    expect(variables({ MONGO_URL: 'mongodb+srv://keel-registry:secret@cluster.example/keel' })).toEqual([]);
  });

  it('given a gRPC certificate without its key, or a CA bundle without a certificate, then start-up says which', () => {
    const variables = (env: Record<string, string>) =>
      platformConfigProblems(loadConfig(platformEnvSchema, env)).map((problem) => problem.variable);
    expect(variables({ GRPC_TLS_CERT_FILE: '/etc/keel/tls/tls.crt' })).toEqual(['GRPC_TLS_KEY_FILE']);
    expect(variables({ GRPC_TLS_CA_FILE: '/etc/keel/tls/ca.crt' })).toEqual(['GRPC_TLS_CERT_FILE']);
    expect(
      variables({
        GRPC_TLS_CERT_FILE: '/etc/keel/tls/tls.crt',
        GRPC_TLS_KEY_FILE: '/etc/keel/tls/tls.key',
        GRPC_TLS_CA_FILE: '/etc/keel/tls/ca.crt',
      }),
    ).toEqual([]);
  });
});
