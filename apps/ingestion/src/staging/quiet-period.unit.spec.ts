import { describe, expect, it } from 'vitest';
import { type NewestPending, quietPeriodOver, type QuietPeriodProbe } from './quiet-period';

const FLUSH_MS = 3_000;
const at = (ms: number) => new Date(ms);

function probe(options: { now: number; newest: NewestPending | null; consumed: boolean }) {
  const asked: { topic: string; partition: number; before: Date }[] = [];
  let databaseReads = 0;
  const fake: QuietPeriodProbe = {
    now: () => options.now,
    newestPending: async () => {
      databaseReads++;
      return options.newest;
    },
    consumedBefore: async (topic, partition, before) => {
      asked.push({ topic, partition, before });
      return options.consumed;
    },
  };
  return { fake, asked, reads: () => databaseReads };
}

describe('quietPeriodOver', () => {
  const newest = (stagedAt: number): NewestPending => ({
    stagedAt: at(stagedAt),
    topic: 'mlops.data.records.v1',
    partition: 2,
  });

  it('asks nothing while this process staged a batch within the quiet period', async () => {
    const { fake, asked, reads } = probe({ now: 12_000, newest: newest(10_000), consumed: true });

    const verdict = await quietPeriodOver(FLUSH_MS, at(10_000), fake);

    expect(verdict.quiet).toBe(false);
    expect(reads()).toBe(0);
    expect(asked).toEqual([]);
  });

  it('is quiet once the newest batch is old and the partition was consumed up to its quiet-period end', async () => {
    const { fake, asked } = probe({ now: 20_000, newest: newest(10_000), consumed: true });

    const verdict = await quietPeriodOver(FLUSH_MS, at(10_000), fake);

    expect(verdict.quiet).toBe(true);
    expect(asked).toEqual([{ topic: 'mlops.data.records.v1', partition: 2, before: at(13_000) }]);
  });

  it('is not quiet while records received before then still wait unconsumed on the partition', async () => {
    const { fake } = probe({ now: 60_000, newest: newest(10_000), consumed: false });

    const verdict = await quietPeriodOver(FLUSH_MS, at(10_000), fake);

    expect(verdict.quiet).toBe(false);
  });

  it('waits for a newer batch another replica staged, and remembers it', async () => {
    const { fake, asked } = probe({ now: 14_000, newest: newest(12_000), consumed: true });

    const verdict = await quietPeriodOver(FLUSH_MS, at(10_000), fake);

    expect(verdict).toEqual({ quiet: false, newestAt: at(12_000) });
    expect(asked).toEqual([]);
  });

  it('lets a cut run when nothing is pending any more, so the pipeline is forgotten', async () => {
    const { fake, asked } = probe({ now: 20_000, newest: null, consumed: false });

    const verdict = await quietPeriodOver(FLUSH_MS, at(10_000), fake);

    expect(verdict.quiet).toBe(true);
    expect(asked).toEqual([]);
  });
});
