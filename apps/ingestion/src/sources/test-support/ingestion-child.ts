/**
 * Ingestion as a process of its own under the instance name CHILD_SERVICE_NAME, for the int test that kills it with
 * SIGKILL mid-pull (its consumer groups are then its own, never those of an ingestion running on the stack).
 */
import { runService } from '@keel/service-runtime';
import { telemetryStub } from '@keel/testing';
import { ingestionEnvSchema } from '../../config';
import { IngestionModule } from '../../ingestion.module';

const name = process.env.CHILD_SERVICE_NAME;
if (!name) throw new Error('CHILD_SERVICE_NAME is not set');
runService({ name, envSchema: ingestionEnvSchema, features: [IngestionModule], telemetry: telemetryStub });
