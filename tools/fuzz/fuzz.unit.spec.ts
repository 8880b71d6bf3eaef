/**
 * A small sample of `npm run fuzz` (10,000 cases per decoder there): every external decoder, with generated hostile
 * inputs, rejects with a clear error and never crashes or hangs.
 */
import { describe, expect, it } from 'vitest';
import { runTarget } from './run-fuzz';
import { fuzzTargets } from './targets';

describe('fuzzing every external decoder (sample)', () => {
  const targets = fuzzTargets();

  it('covers every kind of external input', () => {
    const names = targets.map((target) => target.name);
    for (const kind of [
      'kafka:',
      'csv-upload',
      'spec:yaml',
      'spec:json',
      'oip:grpc',
      'oip:rest JSON',
      'oip:rest binary',
      'model-package',
    ]) {
      expect(
        names.some((name) => name.startsWith(kind)),
        kind,
      ).toBe(true);
    }
  });

  it.each(targets.map((target) => [target.name, target] as const))(
    '%s: 60 generated cases, each accepted or rejected with a clear error',
    async (_name, target) => {
      const figures = await runTarget(target, { cases: 60, seed: 20261202, largest: false });
      // Crashes only: a hang past the deadline is judged by `npm run fuzz`, not by a timed test.
      expect(figures.failures.filter((failure) => failure.kind === 'crash')).toEqual([]);
      expect(figures.rejected).toBeGreaterThan(0);
    },
    60_000,
  );
});
