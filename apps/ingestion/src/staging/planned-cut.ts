import { type ColumnType } from '@keel/contracts';

/** What a cut plan records of its version before writing it: the bytes' sha256 (which names the version) and rows. */
export interface PlannedVersion {
  datasetVersionId: string;
  sha256: string;
  rowCount: number;
  /**
   * The columns the bytes were encoded with (the dataset schema of the cut that recorded them), which the version is
   * labelled with whatever the spec says when it is finished; absent in plans recorded before they were kept.
   */
  columns?: { name: string; type: ColumnType }[];
  /** When it was recorded (epoch ms, the recorder's clock); absent in plans recorded before it was kept. */
  recordedAt?: number;
}

/** The steps of finishing a cut plan, given by the cut service (and faked by the unit tests). */
export interface PlannedCutSteps<E extends { sha256: string; rowCount: number }, V> {
  /** The version the plan recorded, written again from its stored bytes; null when they never reached the store. */
  writeStored(planned: PlannedVersion): Promise<V | null>;
  /**
   * Whether an error of writeStored says the recorded bytes can never be read back as they are (altered in the
   * store, or over the read limit), having dealt with them (said so, removed bytes that are corrupt): the batches are
   * then encoded and recorded anew. False for any other error, which fails the cut (retried).
   */
  unreadable(error: unknown, planned: PlannedVersion): Promise<boolean>;
  /**
   * Waits, holding the cut, until the cutter that recorded `planned` (whose bytes are not stored) can be taken to
   * have given up on it: its lease lapsed long enough ago that it is gone rather than slow. Called only when this
   * cutter's encoding gives other bytes (another build), before it records them in place of the recorded ones.
   */
  untilRecorderGone(planned: PlannedVersion): Promise<void>;
  /** The plan's batches encoded (ahead, or now); null when they hold no rows. */
  encode(): Promise<E | null>;
  /** Records the version in the plan (compare-and-set); false when another cutter moved the cut log first. */
  record(encoded: E): Promise<boolean>;
  write(encoded: E): Promise<V>;
}

/**
 * The cut log moved under a cut that holds its lease (another replica's progress, e.g. one that held the lease before
 * this one and finished the plan): nothing is written, and the cut reads the cut log again and goes on from there.
 */
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
 * store, or cannot be read back (writeStored looks for its document first, so none names them), has nothing of it
 * visible, so its batches are encoded and recorded anew.
 */
export async function finishPlannedCut<E extends { sha256: string; rowCount: number }, V>(
  pipelineId: string,
  recorded: PlannedVersion | undefined,
  steps: PlannedCutSteps<E, V>,
): Promise<V | null> {
  let absent = false;
  if (recorded) {
    let version: V | null = null;
    try {
      version = await steps.writeStored(recorded);
      absent = version === null;
    } catch (error) {
      if (!(await steps.unreadable(error, recorded))) throw error;
    }
    if (version) return version;
  }
  const encoded = await steps.encode();
  // Batches whose every record was dead-lettered: nothing to write, nothing to record.
  if (!encoded) return null;
  if (recorded && absent && encoded.sha256 !== recorded.sha256) {
    // Other bytes than the recorded ones (another build encoded them). Their recorder may be stalled rather than
    // dead, its bytes still on their way: recording these in their place then would give two versions of the same
    // rows. So this waits until that cutter is gone, and takes its bytes if they arrived meanwhile.
    await steps.untilRecorderGone(recorded);
    const version = await steps.writeStored(recorded);
    if (version) return version;
  }
  if (!(await steps.record(encoded))) throw new CutPlanMovedError(pipelineId);
  return steps.write(encoded);
}
