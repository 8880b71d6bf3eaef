import { describe, expect, it } from 'vitest';
import { MemoryKeyedTable } from './keyed-table';
import { LeaseLostError, Leases, withLease } from './leases';

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('Leases', () => {
  it('gives a free lease to one claimant at a time, numbering the epochs', async () => {
    const time = clock();
    const leases = new Leases(new MemoryKeyedTable(), { now: time.now });
    const a = await leases.acquire('cut:p', 'a', 10_000);
    expect(a?.epoch).toBe(1);
    expect(await leases.acquire('cut:p', 'b', 10_000)).toBeNull();
    // not re-entrant either: the same holder waits for its own release
    expect(await leases.acquire('cut:p', 'a', 10_000)).toBeNull();
    await leases.release(a!);
    expect((await leases.acquire('cut:p', 'b', 10_000))?.epoch).toBe(2);
  });

  it('lets exactly one of many racing claimants win an epoch', async () => {
    const leases = new Leases(new MemoryKeyedTable());
    const claims = await Promise.all(['a', 'b', 'c', 'd'].map((holder) => leases.acquire('l', holder, 10_000)));
    expect(claims.filter((claim) => claim !== null)).toHaveLength(1);
  });

  it('is taken over with the next epoch once expired, and the old holder can no longer renew', async () => {
    const time = clock();
    const leases = new Leases(new MemoryKeyedTable(), { now: time.now });
    const a = (await leases.acquire('l', 'a', 10_000))!;
    time.advance(9_000);
    expect(await leases.acquire('l', 'b', 10_000)).toBeNull();
    time.advance(1_001);
    const b = await leases.acquire('l', 'b', 10_000);
    expect(b?.epoch).toBe(2);
    expect(await leases.renew(a, 10_000)).toBeNull();
  });

  it('renews before the margin, extending the lease past its first expiry', async () => {
    const time = clock();
    const leases = new Leases(new MemoryKeyedTable(), { now: time.now });
    const a = (await leases.acquire('l', 'a', 10_000))!;
    time.advance(5_000);
    const renewed = (await leases.renew(a, 10_000))!;
    expect(renewed.epoch).toBe(1);
    time.advance(7_000);
    expect(await leases.acquire('l', 'b', 10_000)).toBeNull();
    // a renewal attempted after the holder's margin is refused: someone may already be taking over
    time.advance(2_000);
    expect(await leases.renew(renewed, 10_000)).toBeNull();
  });

  it('withLease runs the work once under the lease and releases it', async () => {
    const leases = new Leases(new MemoryKeyedTable());
    const outcome = await withLease(leases, 'l', 'a', 10_000, async (scope) => {
      scope.assertHeld();
      expect(await withLease(leases, 'l', 'b', 10_000, () => Promise.resolve('never'))).toEqual({ held: false });
      return scope.lease.epoch;
    });
    expect(outcome).toEqual({ held: true, value: 1 });
    expect((await leases.acquire('l', 'b', 10_000))?.epoch).toBe(2);
  });

  it('withLease reports a lease lost by the clock', async () => {
    const time = clock();
    const leases = new Leases(new MemoryKeyedTable(), { now: time.now });
    const outcome = withLease(
      leases,
      'l',
      'a',
      10_000,
      async (scope) => {
        time.advance(20_000);
        scope.assertHeld();
      },
      time.now,
    );
    await expect(outcome).rejects.toBeInstanceOf(LeaseLostError);
  });
});
