import { describe, expect, it } from 'vitest';
import { onlineViewId, type OnlineViewRecord, viewForUnhashedJoin } from './online-views';

describe('online view records', () => {
  it('are keyed per joining pipeline, table and join definition (a record from before hashes: without one)', () => {
    expect(onlineViewId('churn', 'customers', 'a'.repeat(64))).toBe(`churn|customers|${'a'.repeat(64)}`);
    expect(onlineViewId('churn', 'customers')).toBe('churn|customers');
  });

  it('give a model trained before hashes the newest view with its key and features, else the unhashed record', () => {
    const record = (sequence: number, join?: OnlineViewRecord['join'], pipelineId = 'churn') =>
      ({ pipelineId, tablePipelineId: 'customers', sequence, updatedAt: new Date(0), join }) as OnlineViewRecord;
    const legacy = record(9);
    const both = record(2, { entityKey: 'customer_id', features: ['segment', 'balance'] });
    const newer = record(3, { entityKey: 'customer_id', features: ['balance', 'segment', 'age'] });
    const fewer = record(4, { entityKey: 'customer_id', features: ['balance'] });
    const otherKey = record(5, { entityKey: 'account_id', features: ['balance', 'segment'] });
    const otherPipeline = record(6, { entityKey: 'customer_id', features: ['balance', 'segment'] }, 'fraud');
    const join = { pipeline: 'customers', entityKey: 'customer_id', features: ['balance', 'segment'] };
    const all = [legacy, both, newer, fewer, otherKey, otherPipeline];
    expect(viewForUnhashedJoin(all, 'churn', join)).toBe(newer);
    expect(viewForUnhashedJoin([legacy, fewer, otherKey], 'churn', join)).toBe(legacy);
    expect(viewForUnhashedJoin([fewer], 'churn', join)).toBeUndefined();
  });
});
