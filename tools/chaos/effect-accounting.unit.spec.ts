import { describe, expect, it } from 'vitest';
import { accountEffects, added } from './effect-accounting';
import { type PipelineEffects } from './pipeline-observer';

/** A pipeline that did everything once: two dataset versions, each validated, built, trained and registered. */
function wholeRun(): PipelineEffects {
  return {
    datasets: [
      { datasetVersionId: 'ds-1', uri: 's3://d/1', sha256: '1', rowCount: 2 },
      { datasetVersionId: 'ds-2', uri: 's3://d/2', sha256: '2', rowCount: 1 },
    ],
    rowsPerRecord: new Map([
      ['r0', 1],
      ['r1', 1],
      ['r2', 1],
    ]),
    reports: [
      { datasetVersionId: 'ds-1', passed: true },
      { datasetVersionId: 'ds-2', passed: true },
    ],
    featureSets: [
      { featureSetId: 'fs-1', datasetVersionId: 'ds-1' },
      { featureSetId: 'fs-2', datasetVersionId: 'ds-2' },
    ],
    trainingRuns: [
      { runId: 'run-1', featureSetId: 'fs-1' },
      { runId: 'run-2', featureSetId: 'fs-2' },
    ],
    versions: [
      { version: 1, aliases: [], lineage: { datasetVersionId: 'ds-1', featureSetId: 'fs-1' } },
      { version: 2, aliases: ['champion'], lineage: { datasetVersionId: 'ds-2', featureSetId: 'fs-2' } },
    ],
    championMoves: [
      { sequence: 2, version: 2, previousVersion: 1 },
      { sequence: 1, version: 1 },
    ],
    windows: [
      { modelVersion: 1, windowIndex: 0, rowCount: 200 },
      { modelVersion: 2, windowIndex: 0, rowCount: 40 },
    ],
    predictionsLogged: 240,
  };
}

describe('accountEffects', () => {
  it('given a run that did everything once, when accounted, then nothing is lost or duplicated', () => {
    expect(accountEffects(wholeRun(), ['r0', 'r1', 'r2'], 240, 0)).toEqual({
      recordsLost: 0,
      duplicates: {},
      lost: {},
    });
  });

  it('given a record in no version and one in two, when accounted, then one is lost and one row duplicated', () => {
    const effects = wholeRun();
    effects.rowsPerRecord = new Map([
      ['r0', 1],
      ['r1', 2],
    ]);

    const account = accountEffects(effects, ['r0', 'r1', 'r2'], 240, 0);

    expect(account.recordsLost).toBe(1);
    expect(account.duplicates).toEqual({ 'dataset rows': 1 });
  });

  it('given a feature set trained twice and registered twice, when accounted, then both count as duplicates', () => {
    const effects = wholeRun();
    effects.trainingRuns.push({ runId: 'run-1b', featureSetId: 'fs-1' });
    effects.versions.push({ version: 3, aliases: [], lineage: { datasetVersionId: 'ds-1', featureSetId: 'fs-1' } });

    expect(accountEffects(effects, [], 240, 0).duplicates).toEqual({ 'training runs': 1, 'model versions': 1 });
  });

  it('given the champion moved twice to one version, when accounted, then the second move is a duplicate', () => {
    const effects = wholeRun();
    effects.championMoves.unshift({ sequence: 3, version: 2, previousVersion: 2 });

    expect(accountEffects(effects, [], 240, 0).duplicates).toEqual({ 'alias moves': 2 });
  });

  it('given more logged predictions than answered rows, when accounted, then the excess beyond timeouts is duplicated', () => {
    const effects = wholeRun();
    effects.predictionsLogged = 260;
    effects.windows[1].rowCount = 60;

    expect(accountEffects(effects, [], 240, 0).duplicates).toEqual({ 'prediction logs': 20 });
    expect(accountEffects(effects, [], 240, 20).duplicates).toEqual({});
  });

  it('given no log count, when the windows hold more or fewer rows than were answered, then rows are duplicated or lost', () => {
    const effects = wholeRun();
    delete effects.predictionsLogged;

    expect(accountEffects(effects, [], 240, 0)).toMatchObject({ duplicates: {}, lost: {} });
    expect(accountEffects(effects, [], 230, 0).duplicates).toEqual({ 'drift window rows': 10 });
    expect(accountEffects(effects, [], 230, 10).duplicates).toEqual({});
    expect(accountEffects(effects, [], 250, 0).lost).toEqual({ 'drift window rows': 10 });
  });

  it('given rows merged into windows twice or not at all, when accounted, then windows show duplicated or lost rows', () => {
    const doubled = wholeRun();
    doubled.windows.push({ modelVersion: 2, windowIndex: 1, rowCount: 10 });
    const missing = wholeRun();
    missing.windows.pop();

    expect(accountEffects(doubled, [], 240, 0).duplicates).toEqual({ 'drift window rows': 10 });
    expect(accountEffects(missing, [], 240, 0).lost).toEqual({ 'drift window rows': 40 });
  });

  it('given a validated version with no model version and unlogged answers, when accounted, then both are missing', () => {
    const effects = wholeRun();
    effects.versions.pop();
    effects.predictionsLogged = 200;
    effects.windows.pop();

    expect(accountEffects(effects, [], 240, 0).lost).toEqual({ 'model versions': 1, 'prediction logs': 40 });
  });
});

describe('added', () => {
  it('given totals before and after a fault, when compared, then only what grew is reported', () => {
    expect(added({ 'training runs': 2, 'alias moves': 1 }, { 'training runs': 1, 'alias moves': 1 })).toEqual({
      'training runs': 1,
    });
  });
  it('allows answered rows that wait in still-open windows, up to the allowance', () => {
    const effects = wholeRun();
    effects.windows = effects.windows.slice(0, 1);
    const open = 240 - effects.windows[0].rowCount;
    expect(accountEffects(effects, [], 240, 0, open).lost).toEqual({});
    expect(accountEffects(effects, [], 240, 0, open - 5).lost).toEqual({ 'drift window rows': 5 });
  });
});
