import { ConfigError, serviceEnvSchema } from '@keel/config';
import { startTelemetry } from '@keel/telemetry';
import { Module } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { startService } from './run-service';

@Module({})
class EmptyFeature {}

describe('service start-up', () => {
  it('refuses a bad environment with an error naming each variable, before connecting to anything', async () => {
    const start = startService({
      name: 'bad-env',
      envSchema: serviceEnvSchema({ httpPort: 3999 }),
      features: [EmptyFeature],
      telemetry: startTelemetry('bad-env', { OTEL_SDK_DISABLED: 'true' }),
      env: { HTTP_PORT: 'http', MONGO_URL: 'postgres://x', S3_SECRET_KEY: 'short' },
    });
    await expect(start).rejects.toBeInstanceOf(ConfigError);
    for (const variable of ['HTTP_PORT', 'MONGO_URL', 'S3_SECRET_KEY']) {
      await expect(start).rejects.toThrow(variable);
    }
  });

  it('keeps running with tracing off when a telemetry setting is bad', () => {
    const telemetry = startTelemetry('bad-telemetry', { OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' });
    expect(telemetry.enabled).toBe(false);
  });
});
