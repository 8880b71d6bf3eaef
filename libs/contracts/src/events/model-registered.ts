import { z } from 'zod';
import { ModelVersionNumber, ObjectUri, PipelineId, Sha256 } from '../common';
import { defineEvent } from '../event-contract';

/** Outcome of one gate applied at registration. */
export const GateResult = z.object({
  gate: z.string().min(1),
  passed: z.boolean(),
  observed: z.number().optional(),
  threshold: z.number().optional(),
  message: z.string().optional(),
});

/** The registry appended a model version. */
export const ModelRegisteredV1 = defineEvent({
  topic: 'mlops.model.registered.v1',
  description: 'A model version was registered with its lineage and gate results',
  schema: z.object({
    pipelineId: PipelineId,
    modelName: z.string().min(1),
    version: ModelVersionNumber,
    packageUri: ObjectUri,
    packageSha256: Sha256,
    gates: z.array(GateResult),
    gatesPassed: z.boolean(),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 32 * 1024,
});
