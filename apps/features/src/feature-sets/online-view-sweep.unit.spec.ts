import { memoryOnlineViewTables, ONLINE_VIEW_TOMBSTONE_RETENTION_MS, OnlineViewStore } from '@keel/pipelines';
import { type Infrastructure } from '@keel/service-runtime';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { OnlineViewSweep } from './online-view-sweep';

describe('OnlineViewSweep', () => {
  it('takes batches while they come back full, so a backlog over one batch is cleared in one sweep', async () => {
    const tables = memoryOnlineViewTables();
    const store = new OnlineViewStore(tables);
    const hash = 'a'.repeat(64);
    // 1,500 tombstones: more than one batch of 1,000
    for (let sequence = 1; sequence <= 1_504; sequence++) {
      await store.record({
        pipelineId: 'churn',
        tablePipelineId: 'customers',
        upToDatasetVersionId: `v${sequence}`,
        sequence,
        viewUri: `s3://features/v${sequence}.json`,
        viewSha256: String(sequence).padStart(64, '0'),
        joinSha256: hash,
        entities: 1,
      } as Parameters<OnlineViewStore['record']>[0]);
    }
    const sweep = new OnlineViewSweep({ mongo: tables } as unknown as Infrastructure, pino({ level: 'silent' }));
    const later = new Date(Date.now() + ONLINE_VIEW_TOMBSTONE_RETENTION_MS + 1_000);
    expect(await sweep.sweep(later)).toBe(1_500);
    expect(tables.revisions.documents.size).toBe(4);
    expect(await sweep.sweep(later)).toBe(0);
  });
});
