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

/**
 * Candidate and champion scored on the same evaluation rows when the version was registered: holdout rows of the
 * candidate's window that neither model trained on.
 */
export const ChampionComparison = z.object({
  championVersion: ModelVersionNumber,
  metric: z.string().min(1),
  candidate: z.number(),
  champion: z.number(),
  /** Rows both were scored on, and where they came from. */
  rows: z.number().int().nonnegative(),
  evaluationData: z.string().min(1).max(500),
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
    /** Absent for the first version, or when the champion could not be scored on the candidate's data. */
    comparison: ChampionComparison.optional(),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 32 * 1024,
});
