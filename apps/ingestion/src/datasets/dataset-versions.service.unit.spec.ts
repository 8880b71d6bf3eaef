import { describe, expect, it } from 'vitest';
import { datasetIngestedEventId, datasetVersionId } from './dataset-versions.service';

const sha256 = 'c'.repeat(64);

describe('dataset version ids', () => {
  it('given two pipelines with identical content, then their version ids and event ids differ', () => {
    const a = datasetVersionId('pipeline-a', sha256);
    const b = datasetVersionId('pipeline-b', sha256);
    expect(b).not.toBe(a);
    expect(datasetIngestedEventId(b, 1)).not.toBe(datasetIngestedEventId(a, 1));
  });

  it('given the same content again, then the same version and event id; under a changed spec, a new event id', () => {
    const id = datasetVersionId('pipeline-a', sha256);
    expect(datasetVersionId('pipeline-a', sha256)).toBe(id);
    expect(datasetIngestedEventId(id, 1)).toBe(datasetIngestedEventId(id, 1));
    expect(datasetIngestedEventId(id, 2)).not.toBe(datasetIngestedEventId(id, 1));
  });
});
