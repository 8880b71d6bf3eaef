import { telemetry } from './telemetry';
import { runService } from '@keel/service-runtime';
import { monitoringEnvSchema } from './config';
import { MonitoringModule } from './monitoring.module';

runService({ name: 'monitoring', envSchema: monitoringEnvSchema, features: [MonitoringModule], telemetry });
