import { z } from 'zod';
import { ModelVersionNumber, PipelineId } from '../common';
import { defineEvent } from '../event-contract';

/** A registry alias (champion, challenger, staging) moved; serving follows `champion`. */
export const ModelAliasChangedV1 = defineEvent({
  topic: 'mlops.model.alias-changed.v1',
  description: 'A model alias moved to another version',
  schema: z.object({
    pipelineId: PipelineId,
    modelName: z.string().min(1),
    alias: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/),
    version: ModelVersionNumber,
    previousVersion: ModelVersionNumber.optional(),
    reason: z.string().min(1).max(500),
    changedBy: z.string().min(1).max(200),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 4 * 1024,
});
