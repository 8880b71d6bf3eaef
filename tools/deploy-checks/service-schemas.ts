import { type z } from 'zod';
import { featuresEnvSchema } from '../../apps/features/src/config';
import { ingestionEnvSchema } from '../../apps/ingestion/src/config';
import { monitoringEnvSchema } from '../../apps/monitoring/src/config';
import { registryEnvSchema } from '../../apps/registry/src/config';
import { servingEnvSchema } from '../../apps/serving/src/config';
import { trainingEnvSchema } from '../../apps/training/src/config';
import { validationEnvSchema } from '../../apps/validation/src/config';

/** Every service's environment schema, so deployment files can be checked against what the apps accept. */
export const serviceSchemas: Record<string, z.ZodObject> = {
  ingestion: ingestionEnvSchema,
  validation: validationEnvSchema,
  features: featuresEnvSchema,
  training: trainingEnvSchema,
  registry: registryEnvSchema,
  serving: servingEnvSchema,
  monitoring: monitoringEnvSchema,
};
