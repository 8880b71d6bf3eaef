import { telemetry } from './telemetry';
import { runService } from '@keel/service-runtime';
import { registryEnvSchema } from './config';
import { RegistryModule } from './registry.module';

runService({ name: 'registry', envSchema: registryEnvSchema, features: [RegistryModule], telemetry });
