import { z } from 'zod';
import { AliasName } from '../aliases';
import { ModelVersionNumber, PipelineId } from '../common';
import { defineEvent } from '../event-contract';

/** A registry alias (champion, challenger, staging or user-defined) moved; serving follows the aliases it tracks. */
export const ModelAliasChangedV1 = defineEvent({
  topic: 'mlops.model.alias-changed.v1',
  description: 'A model alias moved to another version',
  schema: z.object({
    pipelineId: PipelineId,
    modelName: z.string().min(1),
    alias: AliasName,
    version: ModelVersionNumber,
    previousVersion: ModelVersionNumber.optional(),
    reason: z.string().min(1).max(500),
    changedBy: z.string().min(1).max(200),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 4 * 1024,
});
