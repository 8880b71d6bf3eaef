import { type LeaseScope, type Versioned } from '@keel/coordination';
import { parsePipelineSpec, type StoredPipelineSpec } from '@keel/pipelines';
import { describe, expect, it } from 'vitest';
import { type DatasetVersionsService } from '../datasets/dataset-versions.service';
import { type DatasetVersion } from '../datasets/datasets.repository';
import { ContentPlans } from './content-plans';
import { type SourceRun, type SourceState, type SourceStateRepository } from './source-state.repository';

/** The pipeline under spec version `version`, its dataset's columns as `features` say. */
function pipelineWith(version: number, features: { name: string; type: 'numeric' | 'categorical' }[]) {
  return {
    pipelineId: 'api-rows',
    version,
    appliedAt: new Date(0),
    spec: parsePipelineSpec({
      apiVersion: 'keel/v1',
      kind: 'Pipeline',
      id: 'api-rows',
      task: 'regression',
      target: { column: 'y' },
      features,
      training: { algorithms: ['linear-regression'], primaryMetric: 'rmse' },
    }),
  } as StoredPipelineSpec;
}

/** ContentPlans over a state kept in memory and versions that record how each was finished. */
function harness() {
  const states: Versioned<SourceState>[] = [
    { version: 1, state: { watermark: null, planned: null, lastDatasetVersionId: null, rowsPulled: 0 } },
  ];
  const finished: { columns: unknown }[] = [];
  const repository = {
    advance: (_: string, __: string, basedOn: Versioned<SourceState>, next: SourceState) => {
      states.push({ version: basedOn.version + 1, state: next });
      return Promise.resolve(states.at(-1)!);
    },
    saveRun: () => Promise.resolve(),
  };
  /** Whether a version's write dies (the pull is killed after its plan). */
  const dying = { write: false };
  const versions = {
    write: () =>
      dying.write
        ? Promise.reject(new Error('killed'))
        : Promise.resolve({ datasetVersionId: 'ds-1' } as DatasetVersion),
    writeStored: (_: unknown, __: string, ___: number, ____: unknown, columns?: unknown) => {
      finished.push({ columns });
      return Promise.resolve({ datasetVersionId: 'ds-1' } as DatasetVersion);
    },
  };
  const plans = new ContentPlans(
    repository as unknown as SourceStateRepository,
    versions as unknown as DatasetVersionsService,
  );
  const run = { _id: 'pull-1', datasetVersionIds: [] } as unknown as SourceRun;
  const scope = { assertHeld: () => undefined } as unknown as LeaseScope;
  return { plans, states, finished, run, scope, dying };
}

describe('content plans of an API or a file', () => {
  it('finish a version with the columns its bytes were encoded with, not the spec applied since', async () => {
    const { plans, states, finished, run, scope, dying } = harness();
    const before = pipelineWith(1, [{ name: 'x', type: 'numeric' }]);
    // given a plan made under spec 1 (x numeric), whose pull died writing its version
    dying.write = true;
    const encoded = { parquet: Buffer.from('PAR1'), rowCount: 2, sha256: 'a'.repeat(64) };
    await expect(
      plans.write(before, 'rows', states[0], run, { encoded, from: null, to: null, lineage: 'api:rows' }, scope),
    ).rejects.toThrow('killed');
    expect(states[1].state.planned?.columns).toEqual([
      { name: 'x', type: 'number' },
      { name: 'y', type: 'number' },
    ]);

    // when spec 2 (x now categorical) is applied and the next pull settles the plan
    const after = pipelineWith(2, [{ name: 'x', type: 'categorical' }]);
    await plans.settle(after, 'rows', states[1], run, () => 'api:rows');

    // then the version is labelled with spec 1's columns, those its bytes hold
    expect(finished).toEqual([
      {
        columns: [
          { name: 'x', type: 'number' },
          { name: 'y', type: 'number' },
        ],
      },
    ]);
  });

  it('finish a plan made before plans kept their columns with the schema now (as before)', async () => {
    const { plans, finished, run } = harness();
    const planned = { from: null, to: null, runId: 'pull-0', lineage: 'api:rows', sha256: 'b'.repeat(64), rowCount: 1 };
    const current: Versioned<SourceState> = {
      version: 3,
      state: { watermark: null, planned, lastDatasetVersionId: null, rowsPulled: 0 },
    };

    await plans.settle(pipelineWith(2, [{ name: 'x', type: 'numeric' }]), 'rows', current, run, () => 'api:rows');

    expect(finished).toEqual([{ columns: undefined }]);
  });
});
