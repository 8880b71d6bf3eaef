import { describe, expect, it } from 'vitest';
import { LOG_CHUNK_ROWS, predictionLogEvents } from './prediction-log.service';

const batch = (n: number, wide = 0) => ({
  pipelineId: 'adult-income',
  requestId: 'req-1',
  modelVersion: 3,
  servedAt: new Date('2026-11-26T06:00:00.000Z'),
  rows: Array.from({ length: n }, (_, i) => ({ age: i, note: 'x'.repeat(wide) })),
  outputs: {
    probability: Array.from({ length: n }, (_, i) => i / n),
    label: Array.from({ length: n }, (_, i) => (i / n >= 0.5 ? '>50K' : '<=50K')),
  },
});

describe('predictionLogEvents', () => {
  it('given two rows, when chunked, then one event with row-indexed prediction ids and every output', () => {
    const events = predictionLogEvents(batch(2));
    expect(events).toEqual([
      {
        id: 'predictions-adult-income-v3-req-1-0',
        data: {
          pipelineId: 'adult-income',
          requestId: 'req-1',
          modelName: 'adult-income',
          modelVersion: 3,
          servedAt: '2026-11-26T06:00:00.000Z',
          predictions: [
            { predictionId: 'req-1-0', inputs: { age: 0, note: '' }, outputs: { probability: 0, label: '<=50K' } },
            { predictionId: 'req-1-1', inputs: { age: 1, note: '' }, outputs: { probability: 0.5, label: '>50K' } },
          ],
        },
      },
    ]);
  });

  it('given 2,500 rows, when chunked, then events of at most 1,000 rows with ids ending in their chunk', () => {
    const events = predictionLogEvents(batch(2_500));
    expect(events.map((e) => e.id)).toEqual([
      'predictions-adult-income-v3-req-1-0',
      'predictions-adult-income-v3-req-1-1',
      'predictions-adult-income-v3-req-1-2',
    ]);
    expect(events.map((e) => e.data.predictions.length)).toEqual([LOG_CHUNK_ROWS, LOG_CHUNK_ROWS, 500]);
    expect(events[2].data.predictions[0].predictionId).toBe('req-1-2000');
  });

  it('given two models sent the same request id, when chunked, then their events have distinct ids', () => {
    const [first] = predictionLogEvents(batch(1));
    const [other] = predictionLogEvents({ ...batch(1), pipelineId: 'bike-demand' });
    const [again] = predictionLogEvents(batch(1));
    expect(other.id).not.toBe(first.id);
    expect(again.id).toBe(first.id);
  });

  it('given wide rows, when chunked, then events also stay under the contract size', () => {
    const events = predictionLogEvents(batch(600, 2_000));
    expect(events.length).toBeGreaterThan(1);
    for (const event of events) expect(JSON.stringify(event.data).length).toBeLessThan(1024 * 1024);
    expect(events.reduce((sum, e) => sum + e.data.predictions.length, 0)).toBe(600);
  });
});
