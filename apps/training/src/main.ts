import { telemetry } from './telemetry';
import { runService } from '@keel/service-runtime';
import { trainingEnvSchema } from './config';
import { TrainingModule } from './training.module';

runService({ name: 'training', envSchema: trainingEnvSchema, features: [TrainingModule], telemetry });
