import { PredictionLoggedV2, type PipelineId } from '@keel/contracts';
import { describe, expect, it } from 'vitest';
import { upcastPredictionLog } from './prediction-log-upcast';

describe('upcastPredictionLog', () => {
  it('turns a v1 request log into a valid v2 batch: columns, the event id as batch id, a repeated prediction id once', () => {
    const batch = upcastPredictionLog('evt-1', {
      pipelineId: 'adult' as PipelineId,
      requestId: 'req-1',
      modelName: 'adult',
      modelVersion: 3,
      servedAt: '2026-11-26T06:01:02.123Z',
      predictions: [
        { predictionId: 'p0', inputs: { age: 39, sex: 'Male', married: true }, outputs: { probability: 0.1 } },
        { predictionId: 'p1', inputs: { age: null, sex: 'Female' }, outputs: { probability: 0.7, label: '>50K' } },
        { predictionId: 'p0', inputs: { age: 99 }, outputs: { probability: 0.9 } },
      ],
    });

    expect(PredictionLoggedV2.schema.safeParse(batch).error?.issues ?? []).toEqual([]);
    expect(batch).toEqual({
      pipelineId: 'adult',
      modelName: 'adult',
      modelVersion: 3,
      batchId: 'v1-evt-1',
      rows: 2,
      predictionIds: ['p0', 'p1'],
      requestIds: ['req-1', 'req-1'],
      servedAt: [Date.parse('2026-11-26T06:01:02.123Z'), Date.parse('2026-11-26T06:01:02.123Z')],
      inputs: { age: [39, null], sex: ['Male', 'Female'], married: ['true', null] },
      outputs: { probability: [0.1, 0.7], label: ['', '>50K'] },
    });
  });
});
