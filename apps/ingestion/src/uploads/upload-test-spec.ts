import { type PipelineSpecV1 } from '@keel/contracts';
import { parsePipelineSpec } from '@keel/pipelines';

/**
 * The pipeline the uploads' unit tests encode files for (a file of `age,city,income` rows): age a non-null number,
 * city a category, income the binary target.
 */
export function uploadTestSpec(id: string): PipelineSpecV1 {
  return parsePipelineSpec({
    apiVersion: 'keel/v1',
    kind: 'Pipeline',
    id,
    task: 'binary-classification',
    target: { column: 'income', positive: '>50K' },
    features: [
      { name: 'age', type: 'numeric', nullable: false },
      { name: 'city', type: 'categorical' },
    ],
    training: { algorithms: ['gbdt'], primaryMetric: 'auc' },
  });
}
