import { describe, expect, it } from 'vitest';
import { CutPlanMovedError, finishPlannedCut, type PlannedCutSteps, type PlannedVersion } from './planned-cut';

type Encoded = { sha256: string; rowCount: number };

/** Steps that log what was done; `stored` is the sha256 of the bytes in the object store, if any. */
function steps(options: {
  stored?: string;
  encodesTo?: Encoded | null;
  recorded?: boolean;
  storedFails?: Error;
  unreadable?: (error: unknown) => boolean;
  arrivesWhileWaiting?: string;
}) {
  const done: string[] = [];
  const fake: PlannedCutSteps<Encoded, string> = {
    writeStored: ({ sha256 }) => {
      done.push(`writeStored ${sha256}`);
      if (options.storedFails) return Promise.reject(options.storedFails);
      return Promise.resolve(options.stored === sha256 ? `version of ${sha256}` : null);
    },
    untilRecorderGone: () => {
      done.push('wait for the recorder');
      if (options.arrivesWhileWaiting) options.stored = options.arrivesWhileWaiting;
      return Promise.resolve();
    },
    unreadable: (error) => {
      const unreadable = options.unreadable?.(error) ?? false;
      done.push(`unreadable ${String(unreadable)}`);
      return Promise.resolve(unreadable);
    },
    encode: () => {
      done.push('encode');
      return Promise.resolve(options.encodesTo === undefined ? { sha256: 'new', rowCount: 3 } : options.encodesTo);
    },
    record: (encoded) => {
      done.push(`record ${encoded.sha256}`);
      return Promise.resolve(options.recorded ?? true);
    },
    write: (encoded) => {
      done.push(`write ${encoded.sha256}`);
      return Promise.resolve(`version of ${encoded.sha256}`);
    },
  };
  return { done, fake };
}

const recorded: PlannedVersion = { datasetVersionId: 'ds-old', sha256: 'old', rowCount: 3 };

describe('finishPlannedCut', () => {
  it('records the version in the plan before writing it', async () => {
    const { done, fake } = steps({});
    await expect(finishPlannedCut('p', undefined, fake)).resolves.toBe('version of new');
    expect(done).toEqual(['encode', 'record new', 'write new']);
  });

  it('finishes a recorded version from its stored bytes, never encoding its batches again (an encoder upgraded)', async () => {
    const { done, fake } = steps({ stored: 'old' });
    await expect(finishPlannedCut('p', recorded, fake)).resolves.toBe('version of old');
    expect(done).toEqual(['writeStored old']);
  });

  it('encodes, records and writes anew when the recorded bytes never reached the store (nothing of them exists)', async () => {
    const { done, fake } = steps({ encodesTo: { sha256: 'old', rowCount: 3 } });
    await expect(finishPlannedCut('p', recorded, fake)).resolves.toBe('version of old');
    expect(done).toEqual(['writeStored old', 'encode', 'record old', 'write old']);
  });

  it('encoding other bytes than the recorded ones, waits for their recorder to be gone before recording them', async () => {
    const { done, fake } = steps({});
    await expect(finishPlannedCut('p', recorded, fake)).resolves.toBe('version of new');
    expect(done).toEqual([
      'writeStored old',
      'encode',
      'wait for the recorder',
      'writeStored old',
      'record new',
      'write new',
    ]);
  });

  it('takes the recorded bytes when they arrive while it waits (their recorder was slow, not gone)', async () => {
    const { done, fake } = steps({ arrivesWhileWaiting: 'old' });
    await expect(finishPlannedCut('p', recorded, fake)).resolves.toBe('version of old');
    expect(done).toEqual(['writeStored old', 'encode', 'wait for the recorder', 'writeStored old']);
  });

  it('writes nothing when the cut log moved before the version was recorded', async () => {
    const { done, fake } = steps({ recorded: false });
    await expect(finishPlannedCut('p', undefined, fake)).rejects.toThrow(CutPlanMovedError);
    expect(done).toEqual(['encode', 'record new']);
  });

  it('records and writes nothing for batches without rows (every record dead-lettered)', async () => {
    const { done, fake } = steps({ encodesTo: null });
    await expect(finishPlannedCut('p', undefined, fake)).resolves.toBeNull();
    expect(done).toEqual(['encode']);
  });

  it('encodes, records and writes anew when the recorded bytes cannot be read back (corrupt: nothing names them)', async () => {
    const corrupt = new Error('integrity check failed');
    const { done, fake } = steps({ stored: 'old', storedFails: corrupt, unreadable: (error) => error === corrupt });
    await expect(finishPlannedCut('p', recorded, fake)).resolves.toBe('version of new');
    expect(done).toEqual(['writeStored old', 'unreadable true', 'encode', 'record new', 'write new']);
  });

  it('fails the cut (retried) on any other error of the stored bytes, encoding nothing', async () => {
    const { done, fake } = steps({ stored: 'old', storedFails: new Error('storage unavailable') });
    await expect(finishPlannedCut('p', recorded, fake)).rejects.toThrow('storage unavailable');
    expect(done).toEqual(['writeStored old', 'unreadable false']);
  });
});
