import { telemetry } from './telemetry';
import { runService } from '@keel/service-runtime';
import { servingEnvSchema } from './config';
import { ServingModule } from './serving.module';

runService({ name: 'serving', envSchema: servingEnvSchema, features: [ServingModule], telemetry });
