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
});
