import { telemetry } from './telemetry';
import { runService } from '@keel/service-runtime';
import { ingestionEnvSchema } from './config';
import { IngestionModule } from './ingestion.module';

runService({ name: 'ingestion', envSchema: ingestionEnvSchema, features: [IngestionModule], telemetry });
