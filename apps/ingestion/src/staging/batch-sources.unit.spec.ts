import { describe, expect, it } from 'vitest';
import { batchSources } from './batch-sources';

describe('batchSources', () => {
  it('collapses offsets to one range per partition and lists producer names once', () => {
    // given batches from two partitions and two producers
    const origins = [
      { topic: 't', partition: 0, offset: '12', source: 'crm' },
      { topic: 't', partition: 0, offset: '3', source: 'crm' },
      { topic: 't', partition: 1, offset: '7' },
      { topic: 't', partition: 0, offset: '40', source: 'erp' },
    ];
    // then the lineage is compact and complete
    expect(batchSources(origins)).toEqual(['kafka:t/0@3-40', 'kafka:t/1@7', 'source:crm', 'source:erp']);
  });
});
