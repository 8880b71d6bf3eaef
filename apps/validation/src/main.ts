import { telemetry } from './telemetry';
import { runService } from '@keel/service-runtime';
import { validationEnvSchema } from './config';
import { ValidationModule } from './validation.module';

runService({ name: 'validation', envSchema: validationEnvSchema, features: [ValidationModule], telemetry });
