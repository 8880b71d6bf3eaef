/** What a cut plan records of its version before writing it: the bytes' sha256 (which names the version) and rows. */
export interface PlannedVersion {
  datasetVersionId: string;
  sha256: string;
  rowCount: number;
}

/** The steps of finishing a cut plan, given by the cut service (and faked by the unit tests). */
export interface PlannedCutSteps<E extends { sha256: string; rowCount: number }, V> {
  /** The version the plan recorded, written again from its stored bytes; null when they never reached the store. */
  writeStored(planned: PlannedVersion): Promise<V | null>;
  /** The plan's batches encoded (ahead, or now); null when they hold no rows. */
  encode(): Promise<E | null>;
  /** Records the version in the plan (compare-and-set); false when another cutter moved the cut log first. */
  record(encoded: E): Promise<boolean>;
  write(encoded: E): Promise<V>;
}

/** The cut log moved under a cut that holds its lease: the cut stops and is retried (nothing is written). */
export class CutPlanMovedError extends Error {
  constructor(pipelineId: string) {
    super(`the cut log of ${pipelineId} moved while its cut was planned`);
    this.name = 'CutPlanMovedError';
  }
}

/**
 * Finishes a planned cut so that it writes one version whatever happens in between: the version is recorded in the
 * plan before it is written, and a plan that recorded one (a cut that died after recording it) is finished from the
 * stored bytes instead of encoding its batches again, which after an upgrade of the encoder or of Node could give
 * other bytes, hence a second version of the same rows. A recorded version whose bytes never reached the object
 * store has nothing written (the object is the first write), so its batches are encoded and recorded anew.
 */
export async function finishPlannedCut<E extends { sha256: string; rowCount: number }, V>(
  pipelineId: string,
  recorded: PlannedVersion | undefined,
  steps: PlannedCutSteps<E, V>,
): Promise<V | null> {
  if (recorded) {
    const version = await steps.writeStored(recorded);
    if (version) return version;
  }
  const encoded = await steps.encode();
  // Batches whose every record was dead-lettered: nothing to write, nothing to record.
  if (!encoded) return null;
  if (!(await steps.record(encoded))) throw new CutPlanMovedError(pipelineId);
  return steps.write(encoded);
}
