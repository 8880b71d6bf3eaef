import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, envPort, loadConfig } from './load-config';

describe('loadConfig', () => {
  const schema = z.object({ HTTP_PORT: envPort, KAFKA_BROKERS: z.string().min(1) });

  it('returns typed values when the environment is valid', () => {
    expect(loadConfig(schema, { HTTP_PORT: '8080', KAFKA_BROKERS: '127.0.0.1:9092' })).toEqual({
      HTTP_PORT: 8080,
      KAFKA_BROKERS: '127.0.0.1:9092',
    });
  });

  it('names every bad variable in one error', () => {
    let error: unknown;
    try {
      loadConfig(schema, { HTTP_PORT: 'eighty' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(/HTTP_PORT/);
    expect((error as ConfigError).message).toMatch(/KAFKA_BROKERS: is required/);
  });
});
