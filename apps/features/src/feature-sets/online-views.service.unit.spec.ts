import { joinDefinitionSha256 } from '@keel/contracts';
import { type OnlineViewRecord } from '@keel/pipelines';
import { describe, expect, it } from 'vitest';
import { churnSpec } from '../test-support/point-in-time';
import { viewBuildNeeded, viewsToBuild } from './online-views.service';

describe('viewBuildNeeded', () => {
  it("builds a missing view of the join's definition, or one short of the cut the pipeline joined, up to the cut", () => {
    expect(viewBuildNeeded(null, 3)).toBe(3);
    expect(viewBuildNeeded({ sequence: 2 }, 3)).toBe(3);
    expect(viewBuildNeeded(null, 0)).toBeUndefined(); // the table has no version yet
  });

  it('keeps a view of the cut or later', () => {
    expect(viewBuildNeeded({ sequence: 3 }, 3)).toBeUndefined();
    expect(viewBuildNeeded({ sequence: 5 }, 3)).toBeUndefined();
  });
});

describe('viewsToBuild', () => {
  const champion = churnSpec('churn', 'customers'); // joins balance and segment
  const challengerJoin = { ...champion.joins![0], features: ['balance'] };
  const challenger = { ...champion, joins: [challengerJoin] };
  const record = (pipelineId: string, join?: OnlineViewRecord['join']): OnlineViewRecord =>
    ({
      pipelineId,
      tablePipelineId: 'customers',
      sequence: 1,
      entities: 1,
      ...(join ? { join, joinSha256: joinDefinitionSha256({ pipeline: 'customers', ...join }) } : {}),
    }) as OnlineViewRecord;

  it("rebuilds the current spec's view and every recorded definition's, each once", () => {
    // the spec now joins only balance (a challenger's); the champion's model still reads balance and segment
    const { maxAgeMs: _unused, pipeline: _table, ...championDefinition } = champion.joins![0];
    const builds = viewsToBuild(
      [challenger],
      [record('churn', championDefinition), record('churn', { entityKey: 'customer_id', features: ['balance'] })],
      'customers',
    );
    expect(builds.map(({ pipelineId, join }) => [pipelineId, joinDefinitionSha256(join)])).toEqual([
      ['churn', joinDefinitionSha256(challengerJoin)],
      ['churn', joinDefinitionSha256(champion.joins![0])],
    ]);
  });

  it('leaves records from before views kept their definition, and other tables', () => {
    expect(viewsToBuild([], [record('churn')], 'customers')).toEqual([]);
    expect(viewsToBuild([champion], [], 'accounts')).toEqual([]);
  });
});
