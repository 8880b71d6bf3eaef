import { describe, expect, it } from 'vitest';
import { type RoutingPlan, RoutingTable } from './routing-table';

const plan = (overrides: Partial<RoutingPlan> = {}): RoutingPlan => ({
  rolloutId: 'm/v4/7',
  baselineVersion: 3,
  candidateVersion: 4,
  candidateWeight: 10,
  mirrored: false,
  revision: 7,
  ...overrides,
});

describe('routing table', () => {
  it('leaves requests alone when the model has no split', () => {
    const table = new RoutingTable();
    expect(table.route('m', undefined)).toBeUndefined();
    table.set('m', plan({ candidateWeight: 0 }));
    expect(table.route('m', 'user-1')).toBeUndefined();
  });

  it('gives the candidate exactly its weight of every 100 unkeyed requests', () => {
    const table = new RoutingTable();
    table.set('m', plan({ candidateWeight: 10 }));
    for (let round = 0; round < 3; round++) {
      const versions = Array.from({ length: 100 }, () => table.route('m', undefined)!.version);
      expect(versions.filter((v) => v === 4)).toHaveLength(10);
    }
  });

  it('keeps a key on one arm across calls, tables (replicas, restarts) and close to the weight over many keys', () => {
    const first = new RoutingTable();
    const second = new RoutingTable();
    first.set('m', plan({ candidateWeight: 30 }));
    second.set('m', plan({ candidateWeight: 30 }));
    let candidate = 0;
    for (let user = 0; user < 5_000; user++) {
      const version = first.route('m', `user-${user}`)!.version;
      expect(first.route('m', `user-${user}`)!.version).toBe(version);
      expect(second.route('m', `user-${user}`)!.version).toBe(version);
      if (version === 4) candidate += 1;
    }
    expect(candidate / 5_000).toBeGreaterThan(0.27);
    expect(candidate / 5_000).toBeLessThan(0.33);
  });

  it('answers with the baseline and mirrors to the candidate for shadow', () => {
    const table = new RoutingTable();
    table.set('m', plan({ candidateWeight: 0, mirrored: true }));
    expect(table.route('m', 'k')).toEqual({ version: 3, mirror: 4 });
  });

  it('ignores a plan older than the one it holds, and drops the plan when the rollout ends', () => {
    const table = new RoutingTable();
    table.set('m', plan({ candidateWeight: 50, revision: 8 }));
    table.set('m', plan({ candidateWeight: 10, revision: 7 }));
    expect(table.get('m')?.candidateWeight).toBe(50);
    table.set('m', null, 9);
    expect(table.route('m', undefined)).toBeUndefined();
  });
});
