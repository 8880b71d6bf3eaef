import { describe, expect, it } from 'vitest';
import { allFaults, selectFaults } from './fault-plan';
import { failed, type FaultResult } from './report';

describe('selectFaults', () => {
  it('given nothing, when selected, then every service and server is killed and MinIO and FerretDB go away', () => {
    expect(selectFaults(undefined, false).map((fault) => fault.id)).toEqual([
      'kill:ingestion',
      'kill:validation',
      'kill:features',
      'kill:training',
      'kill:registry',
      'kill:serving',
      'kill:monitoring',
      'kill:kafka',
      'kill:minio',
      'kill:ferretdb',
      'kill:jaeger',
      'outage:minio',
      'outage:ferretdb',
    ]);
  });

  it('given the fast mode, when selected, then one fault of each kind', () => {
    expect(new Set(selectFaults(undefined, true).map((fault) => fault.kind))).toEqual(
      new Set(allFaults.map((fault) => fault.kind)),
    );
    expect(selectFaults(undefined, true)).toHaveLength(3);
  });

  it('given ids, when selected, then those faults in that order; an unknown id names the known ones', () => {
    expect(selectFaults('outage:minio, kill:serving', false).map((fault) => fault.id)).toEqual([
      'outage:minio',
      'kill:serving',
    ]);
    expect(() => selectFaults('kill:postgres', false)).toThrow(
      /unknown fault\(s\) kill:postgres; known: kill:ingestion/,
    );
  });
});

describe('failed', () => {
  const ok: FaultResult = {
    fault: 'kill -9 serving',
    completed: true,
    recordsLost: 0,
    duplicates: {},
    lostEffects: { 'drift window rows': 4 },
    failedRequests: 3,
    failedWhileServingDown: 3,
    failureCodes: { UNAVAILABLE: 3 },
    tracesResumed: true,
    notes: [],
  };

  it('given failures only while serving was down and missing effects only, when judged, then the row is ok', () => {
    expect(failed(ok)).toBe(false);
  });

  it.each([
    ['not completed', { completed: false }],
    ['a lost record', { recordsLost: 1 }],
    ['a duplicate effect', { duplicates: { 'training runs': 1 } }],
    ['a failure while serving was up', { failedRequests: 4 }],
    ['traces not back', { tracesResumed: false }],
  ])('given %s, when judged, then the row fails', (_, change) => {
    expect(failed({ ...ok, ...change })).toBe(true);
  });
});
