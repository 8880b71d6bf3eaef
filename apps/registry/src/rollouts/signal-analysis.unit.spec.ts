import { RolloutAnalysis, ROLLOUT_LATENCY_BOUNDS_MS, RolloutSpec } from '@keel/contracts';
import { createServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { registryEnvSchema } from '../config';
import { type Rollout } from './rollout-machine';
import {
  type RolloutObservationsStore,
  sumObservations,
  type StepObservations,
  type VersionTotals,
} from './rollout-observations';
import {
  accuracySince,
  type ArmCounts,
  judgeAb,
  judgeStep,
  p99OfBuckets,
  predictionPsi,
  sequentialTwoProportionTest,
  SignalAnalysis,
  twoProportionTest,
} from './signal-analysis';

const analysis = RolloutAnalysis.parse({ minRequests: 100, maxErrorRate: 0.01, minLabels: 50 });

/** Latency counts with every request in the bucket of `ms`. */
function latencies(requests: number, ms: number): number[] {
  const counts = new Array<number>(ROLLOUT_LATENCY_BOUNDS_MS.length + 1).fill(0);
  const bucket = ROLLOUT_LATENCY_BOUNDS_MS.findIndex((bound) => ms <= bound);
  counts[bucket === -1 ? counts.length - 1 : bucket] = requests;
  return counts;
}

/** Deterministic spread of probabilities (a well-mixed model's outputs). */
const spread = (n: number, shift = 0) =>
  Array.from({ length: n }, (_, i) => Math.min(1, ((i * 37) % 101) / 100 + shift));

function side(version: number, requests: number, overrides: Partial<VersionTotals> = {}): VersionTotals {
  return {
    version,
    requests,
    errors: 0,
    latencyCounts: latencies(requests, 2),
    output: 'probability',
    samples: spread(400),
    groups: [],
    ...overrides,
  };
}

const step = (baseline: VersionTotals, candidate: VersionTotals): StepObservations => ({
  reports: 2,
  baseline,
  candidate,
  shadow: { rows: 0, agreed: 0 },
});

describe('rollout step analysis', () => {
  it('passes a candidate that behaves like the baseline on the same traffic, with its figures', () => {
    const verdict = judgeStep({ analysis, step: step(side(1, 900), side(2, 100)), mirrored: false });
    expect(verdict.outcome).toBe('pass');
    expect(verdict.reason).toMatch(/100 candidate requests, error rate 0, p99 ratio 1, probability PSI 0\b/);
  });

  it('waits for minRequests, but fails at once when failures already exceed the budget of minRequests', () => {
    expect(judgeStep({ analysis, step: step(side(1, 90), side(2, 10)), mirrored: false }).outcome).toBe('wait');
    const failing = judgeStep({ analysis, step: step(side(1, 90), side(2, 10, { errors: 2 })), mirrored: false });
    expect(failing).toEqual({
      outcome: 'fail',
      reason: 'candidate v2 error rate 0.02 > 0.01 (2 failed of 10)',
    });
    expect(judgeStep({ analysis, step: { reports: 0, shadow: { rows: 0, agreed: 0 } }, mirrored: false })).toEqual({
      outcome: 'wait',
      reason: 'no candidate traffic observed yet',
    });
    const bakeOnly = RolloutAnalysis.parse({ minRequests: 0 });
    expect(
      judgeStep({ analysis: bakeOnly, step: { reports: 0, shadow: { rows: 0, agreed: 0 } }, mirrored: false }).outcome,
    ).toBe('pass');
  });

  it('fails a candidate whose predictions shift against the baseline (a constant predictor)', () => {
    const constant = side(2, 200, { samples: new Array<number>(200).fill(0.5) });
    const verdict = judgeStep({ analysis, step: step(side(1, 1_800), constant), mirrored: false });
    expect(verdict.outcome).toBe('fail');
    expect(verdict.reason).toMatch(
      /candidate v2 probability PSI \d+(\.\d+)? against the baseline's on the same traffic > 0.2/,
    );
  });

  it('fails a slow candidate on its p99 against the baseline, above the latency floor only', () => {
    const slow = side(2, 200, { latencyCounts: latencies(200, 80) });
    expect(judgeStep({ analysis, step: step(side(1, 1_800), slow), mirrored: false }).reason).toMatch(
      /p99 100 ms is 10× the baseline's 10 ms > 1.5×/,
    );
    // Both under the 10 ms floor: equal.
    const alsoFast = side(2, 200, { latencyCounts: latencies(200, 8) });
    expect(judgeStep({ analysis, step: step(side(1, 1_800), alsoFast), mirrored: false }).outcome).toBe('pass');
    // A mirror's latency is not an answer's: not compared for shadow.
    expect(judgeStep({ analysis, step: step(side(1, 1_800), slow), mirrored: true }).outcome).toBe('pass');
  });

  it('compares accuracy on labelled feedback once both versions have minLabels', () => {
    const observed = step(side(1, 900), side(2, 100));
    const labels = (candidate: number, labelled = 60) => ({
      baseline: { labelled: 500, accuracy: 0.85 },
      candidate: { labelled, accuracy: candidate },
    });
    expect(judgeStep({ analysis, step: observed, mirrored: false, labels: labels(0.8) }).reason).toMatch(
      /candidate accuracy 0.8 vs baseline 0.85: delta -0.05 < -0.02/,
    );
    expect(judgeStep({ analysis, step: observed, mirrored: false, labels: labels(0.8, 10) }).outcome).toBe('pass');
    expect(judgeStep({ analysis, step: observed, mirrored: false, labels: labels(0.84) }).outcome).toBe('pass');
  });

  it('reads no shift into two samples of one distribution, and a large one into a constant', () => {
    const uniform = (n: number, seed: number) =>
      Array.from({ length: n }, (_, i) => ((i * 7919 + seed * 104_729) % 10_007) / 10_007);
    expect(predictionPsi(uniform(2_000, 1), uniform(200, 2))).toBeLessThan(0.1);
    expect(predictionPsi(uniform(2_000, 1), new Array<number>(200).fill(0.5))).toBeGreaterThan(2);
  });

  it('fails a candidate whose positive rate gaps between protected groups beyond maxFairnessGap, counting groups of 30 rows or more', () => {
    const fair = RolloutAnalysis.parse({ minRequests: 100, maxFairnessGap: 0.1 });
    const groups = (female: number) => [
      { attribute: 'sex', group: 'Male', rows: 200, positives: 60 },
      { attribute: 'sex', group: 'Female', rows: 100, positives: female },
      // Too few rows to count, whatever its rate.
      { attribute: 'race', group: 'Other', rows: 5, positives: 5 },
      { attribute: 'race', group: 'White', rows: 250, positives: 60 },
    ];
    const unfair = judgeStep({
      analysis: fair,
      step: step(side(1, 1_000), side(2, 300, { groups: groups(10) })),
      mirrored: false,
    });
    expect(unfair).toEqual({
      outcome: 'fail',
      reason: 'candidate v2 positive-rate gap on sex 0.2 (Male 0.3, Female 0.1) > 0.1',
    });
    const passing = judgeStep({
      analysis: fair,
      step: step(side(1, 1_000), side(2, 300, { groups: groups(25) })),
      mirrored: false,
    });
    expect(passing).toMatchObject({ outcome: 'pass', reason: expect.stringContaining('fairness gap 0.05 on sex') });
    // Without the threshold, no gap is judged.
    expect(
      judgeStep({ analysis, step: step(side(1, 1_000), side(2, 300, { groups: groups(0) })), mirrored: false }).outcome,
    ).toBe('pass');
  });

  it('takes accuracy from the label windows served within the step only, weighted by their labels', () => {
    const since = new Date('2026-12-02T10:00:00Z');
    const window = (firstServedAt: string, labelledCount: number, accuracy?: number) => ({
      firstServedAt,
      labelledCount,
      metrics: accuracy === undefined ? {} : { accuracy },
    });
    const windows = [
      window('2026-12-02T10:20:00Z', 300, 0.9),
      window('2026-12-02T10:05:00Z', 100, 0.7),
      // Straddles the step's start, or came before it: another stretch of traffic.
      window('2026-12-02T09:59:00Z', 200, 0.1),
      window('2026-12-02T09:00:00Z', 200, 0.1),
      window('2026-12-02T10:30:00Z', 50),
    ];
    const step = accuracySince(windows, since);
    expect(step?.labelled).toBe(400);
    expect(step?.accuracy).toBeCloseTo(0.85, 10);
    expect(accuracySince(windows.slice(2, 4), since)).toBeUndefined();
    expect(accuracySince(undefined, since)).toBeUndefined();
  });

  it('reads p99 from latency buckets', () => {
    expect(p99OfBuckets(latencies(100, 3))).toBe(5);
    expect(p99OfBuckets(latencies(100, 10_000))).toBe(5_000);
    expect(p99OfBuckets(latencies(0, 1))).toBeUndefined();
  });

  it('sums reports of instances and intervals per role, keeping samples of one output', () => {
    const report = (instance: string, candidateErrors: number) => ({
      modelName: 'm',
      rolloutId: 'm/v2/3',
      revision: 3,
      instance,
      intervalStart: '2026-12-02T10:00:00.000Z',
      intervalEnd: '2026-12-02T10:00:05.000Z',
      versions: [
        {
          version: 1,
          role: 'baseline' as const,
          requests: 90,
          errors: 0,
          latencyCounts: latencies(90, 2),
          output: 'probability',
          samples: [0.1, 0.2],
        },
        {
          version: 2,
          role: 'candidate' as const,
          requests: 10,
          errors: candidateErrors,
          latencyCounts: latencies(10, 2),
          output: 'probability',
          samples: [0.5],
        },
      ],
      shadow: { rows: 4, agreed: 3 },
    });
    const totals = sumObservations([report('a', 1), report('b', 0)]);
    expect(totals.baseline).toMatchObject({ version: 1, requests: 180, errors: 0, samples: [0.1, 0.2, 0.1, 0.2] });
    expect(totals.candidate).toMatchObject({ version: 2, requests: 20, errors: 1, samples: [0.5, 0.5] });
    expect(totals.candidate?.latencyCounts[1]).toBe(20);
    expect(totals.shadow).toEqual({ rows: 8, agreed: 6 });
  });

  describe('A/B significance test', () => {
    const ab = RolloutSpec.parse({ strategy: 'ab', ab: { minSamplesPerArm: 500, significance: 0.05 } }).ab;

    it('computes the pooled two-proportion z-test', () => {
      const test = twoProportionTest({ successes: 840, n: 1_000 }, { successes: 870, n: 1_000 });
      expect(test.z).toBeCloseTo(1.905, 3);
      expect(test.p).toBeCloseTo(0.0567, 3);
    });

    it('promotes a significant win, rolls back a significant loss, waits on an open test and keeps the champion when it ends open', () => {
      const baseline = { successes: 5_040, n: 6_000 };
      expect(judgeAb(ab, { baseline, candidate: { successes: 5_220, n: 6_000 } }, false)).toMatchObject({
        outcome: 'pass',
        reason: expect.stringMatching(
          /^A\/B: candidate significantly better: accuracy 0.87 candidate vs 0.84 baseline, always-valid p 0.0002/,
        ),
      });
      expect(judgeAb(ab, { baseline, candidate: { successes: 4_860, n: 6_000 } }, false).outcome).toBe('fail');
      // Significant for a fixed-sample z-test read once (p 0.007), not yet for a test read at every tick.
      const open = { baseline: { successes: 1_680, n: 2_000 }, candidate: { successes: 1_740, n: 2_000 } };
      expect(twoProportionTest(open.baseline, open.candidate).p).toBeLessThan(0.01);
      expect(judgeAb(ab, open, false).outcome).toBe('wait');
      expect(judgeAb(ab, open, true).reason).toMatch(/no significant difference.*the champion stays/);
      expect(judgeAb(ab, { baseline, candidate: { successes: 10, n: 12 } }, false).outcome).toBe('wait');
    });

    /** Bernoulli draws from a seeded generator (mulberry32): the same experiments every run. */
    function experiments(seed: number) {
      let state = seed >>> 0;
      const uniform = () => {
        state = (state + 0x6d2b79f5) >>> 0;
        let t = state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
      /**
       * Share of `runs` A/B tests (rates p1 and p2) that a test declares significant at 0.05 at any of its looks
       * (every `every` samples per arm up to `max`): what peeking every tick does.
       */
      return (p1: number, p2: number, test: (a: ArmCounts, b: ArmCounts) => { p: number }, runs = 300) => {
        const [every, max] = [100, 5_000];
        let concluded = 0;
        for (let run = 0; run < runs; run++) {
          const [a, b] = [
            { successes: 0, n: 0 },
            { successes: 0, n: 0 },
          ];
          for (let n = 1; n <= max; n++) {
            a.n = b.n = n;
            if (uniform() < p1) a.successes += 1;
            if (uniform() < p2) b.successes += 1;
            if (n % every === 0 && test(a, b).p < 0.05) {
              concluded += 1;
              break;
            }
          }
        }
        return concluded / runs;
      };
    }

    it('keeps false conclusions under the significance however often it looks, where a z-test read every tick does not', () => {
      // Two equal arms looked at 50 times: the fixed-sample test finds a "difference" in 28 % of them, this in 1.7 %.
      const share = experiments(7);
      expect(share(0.1, 0.1, twoProportionTest)).toBeGreaterThan(0.15);
      expect(share(0.1, 0.1, sequentialTwoProportionTest)).toBeLessThanOrEqual(0.05);
      // And it still finds a real difference of three points within 5,000 samples per arm (95 %).
      expect(share(0.1, 0.13, sequentialTwoProportionTest)).toBeGreaterThan(0.8);
    });

    it('reads a lower error rate as the better arm', () => {
      const errors = { ...ab, metric: 'error-rate' as const };
      const verdict = judgeAb(
        errors,
        { baseline: { successes: 180, n: 6_000 }, candidate: { successes: 60, n: 6_000 } },
        false,
      );
      expect(verdict.outcome).toBe('pass');
    });
  });
});

describe('SignalAnalysis against monitoring over HTTP', () => {
  it('fails a candidate on the accuracy of the labels of predictions served in the step, asking for every window', async () => {
    const enteredAt = new Date('2026-12-02T10:00:00Z');
    const asked: string[] = [];
    const window = (firstServedAt: string, labelledCount: number, accuracy: number) => ({
      firstServedAt,
      labelledCount,
      metrics: { accuracy },
    });
    const monitoring = createServer((request, response) => {
      asked.push(request.url ?? '');
      response.setHeader('content-type', 'application/json');
      response.end(
        JSON.stringify({
          versions: [
            // The candidate's labels of the step: 0.7; the champion's of the same stretch: 0.9 (0.5 before it).
            { modelVersion: 2, windows: [window('2026-12-02T10:10:00Z', 300, 0.7)] },
            {
              modelVersion: 1,
              windows: [window('2026-12-02T10:05:00Z', 300, 0.9), window('2026-12-02T09:00:00Z', 3_000, 0.5)],
            },
          ],
        }),
      );
    });
    await new Promise<void>((resolve) => monitoring.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = monitoring.address() as AddressInfo;
      const config = registryEnvSchema.parse({ MONITORING_HTTP_URL: `http://127.0.0.1:${port}` });
      const observations = { step: () => Promise.resolve(step(side(1, 900), side(2, 200))) };
      const signals = new SignalAnalysis(
        observations as unknown as RolloutObservationsStore,
        config,
        pino({ level: 'silent' }),
      );
      const plan = RolloutSpec.parse({
        strategy: 'canary',
        canary: { analysis: { minRequests: 100, minLabels: 200 } },
      });
      const rollout = {
        rolloutId: 'm/v2/1',
        pipelineId: 'adult-income',
        modelName: 'adult-income',
        strategy: 'canary',
        candidateVersion: 2,
        baselineVersion: 1,
        state: 'progressing',
        step: 0,
        candidateWeight: 10,
        mirrored: false,
        plan,
        startedAt: enteredAt,
        enteredAt,
      } as unknown as Rollout;
      const verdict = await signals.evaluate(rollout, 2, new Date('2026-12-02T10:30:00Z'));
      expect(verdict).toEqual({
        outcome: 'fail',
        reason: 'candidate accuracy 0.7 vs baseline 0.9: delta -0.2 < -0.02 (300 and 300 labels)',
      });
      expect(asked).toEqual(['/api/v1/pipelines/adult-income/performance?windows=100']);
    } finally {
      await new Promise<void>((resolve) => monitoring.close(() => resolve()));
    }
  });
});
