import { describe, expect, it } from 'vitest';
import fixture from '../fixtures/concept-drift.json';
import { StatsInputError } from '../errors';
import { Adwin } from './adwin';
import { createDetector, type DetectorConfig, detectorFromJson } from './detector';
import { PageHinkley } from './page-hinkley';

interface Case {
  stream: keyof typeof fixture.streams;
  detector: string;
  kind: 'adwin' | 'page-hinkley';
  params: Record<string, number>;
  detections: number[];
  trace: { index: number; width: number; estimation: number }[];
}

const camel = (name: string) => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const configOf = (c: Case): DetectorConfig =>
  ({ kind: c.kind, ...Object.fromEntries(Object.entries(c.params).map(([k, v]) => [camel(k), v])) }) as DetectorConfig;

describe('concept drift detectors against River', () => {
  it.each((fixture.cases as Case[]).map((c) => [`${c.detector} on ${c.stream}`, c] as const))(
    '%s: detects at the same values',
    (_name, c) => {
      const detector = createDetector(configOf(c));
      const detections: number[] = [];
      const trace: Case['trace'] = [];
      fixture.streams[c.stream].forEach((x, i) => {
        if (detector.update(x)) detections.push(i);
        if (detector instanceof Adwin && (i + 1) % 250 === 0) {
          trace.push({ index: i, width: detector.windowWidth, estimation: detector.estimation });
        }
      });
      expect(detections).toEqual(c.detections);
      expect(trace.length).toBe(c.trace.length);
      trace.forEach((point, i) => {
        expect(point.width).toBe(c.trace[i].width);
        expect(point.estimation).toBeCloseTo(c.trace[i].estimation, 9);
      });
    },
  );

  it('resumes from its JSON exactly where it was (a checkpoint in the middle changes nothing)', () => {
    for (const config of [{ kind: 'adwin' }, { kind: 'page-hinkley' }] as DetectorConfig[]) {
      const values = fixture.streams['errors-abrupt'];
      const straight = createDetector(config);
      let resumed = createDetector(config);
      const a: number[] = [];
      const b: number[] = [];
      values.forEach((x, i) => {
        if (straight.update(x)) a.push(i);
        if (i % 97 === 0) resumed = detectorFromJson(JSON.parse(JSON.stringify(resumed.toJSON())));
        if (resumed.update(x)) b.push(i);
      });
      expect(b).toEqual(a);
      expect(a.length).toBeGreaterThan(0);
    }
  });

  it('reports the statistic it fires on: above the threshold exactly when it detects', () => {
    const adwin = new Adwin();
    const ph = new PageHinkley({ threshold: 8, delta: 0.01 });
    for (const x of fixture.streams['errors-abrupt']) {
      expect(adwin.update(x)).toBe(adwin.statistic > adwin.threshold);
      expect(ph.update(x)).toBe(ph.statistic > ph.threshold);
    }
  });

  it('rejects values that are not finite and options out of range', () => {
    expect(() => new Adwin().update(Number.NaN)).toThrow(StatsInputError);
    expect(() => new PageHinkley().update(Number.POSITIVE_INFINITY)).toThrow(/finite/);
    expect(() => new Adwin({ delta: 0 })).toThrow(/delta/);
    expect(() => new PageHinkley({ threshold: 0 })).toThrow(/threshold/);
  });
});
