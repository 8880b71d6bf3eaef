import { telemetry } from './telemetry';
import { runService } from '@keel/service-runtime';
import { featuresEnvSchema } from './config';
import { FeaturesModule } from './features.module';

runService({ name: 'features', envSchema: featuresEnvSchema, features: [FeaturesModule], telemetry });
