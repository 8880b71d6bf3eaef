import { type PipelineSpecV1 } from '@keel/contracts';
import { datasetSchema } from '@keel/contracts';
import { readParquet, SPLIT_COLUMN, tableFromRecords, writeParquet } from '@keel/datasets';
import { Predictor } from '@keel/ml-models';
import { heldOutView, parsePackage } from '@keel/model-package';
import { encodeFeatureSet } from '../../../apps/features/src/feature-sets/feature-set.task';
import { searchAlgorithms } from '../../../apps/training/src/training-runs/hyperparameter-search';
import {
  loadTrainingInputs,
  trainAndPackage,
  variantFor,
} from '../../../apps/training/src/training-runs/training-run.task';
import { runTrial, type TunedConfiguration } from '../../../apps/training/src/training-runs/tuning';
import { type Elec2Row } from './elec2';

const quiet = { progress: () => undefined };
const SHA = (n: number) => n.toString(16).padStart(64, '0');

/** A trained model as the harness uses it: a label per row. */
export interface HarnessModel {
  predict(rows: readonly Elec2Row[]): string[];
}

/**
 * Trains on rows exactly as the platform does (features' window, split and fitted transform, then training's
 * candidates and selection), in this process: the baselines' trainer is ours, not a stand-in.
 */
export async function trainOnRows(spec: PipelineSpecV1, rows: readonly Elec2Row[]): Promise<HarnessModel> {
  return (await trainWithHoldout(spec, rows)).model;
}

/**
 * {@link trainOnRows}, also naming the rows (indices into `rows`) the split held out and the model its held-out
 * metrics were measured on (the served model itself, unless it was refit on the whole window).
 */
export async function trainWithHoldout(
  spec: PipelineSpecV1,
  rows: readonly Elec2Row[],
): Promise<{ model: HarnessModel; heldOutModel: HarnessModel; holdout: number[] }> {
  const dataset = writeParquet(tableFromRecords(rows, datasetSchema(spec)));
  const increment = {
    datasetVersionId: `ds-${SHA(rows.length)}`,
    sha256: SHA(1),
    uri: 's3://bench/x',
    sequence: 1,
    rowCount: rows.length,
  };
  const encoded = await encodeFeatureSet({ spec, increments: [increment], datasets: [dataset] }, quiet);
  const features = {
    pipelineId: spec.id,
    datasetVersionId: increment.datasetVersionId,
    datasetSha256: SHA(1),
    featureSetId: `fs-${SHA(2).slice(0, 32)}`,
    featureSetUri: 's3://bench/fs',
    featureSetSha256: SHA(2),
    transformUri: 's3://bench/t',
    transformSha256: SHA(3),
  } as unknown as Parameters<typeof trainAndPackage>[0]['features'];
  // A spec that declares a search is searched as training does (trials on the validation split, in this process),
  // and the chosen configurations are refit on train and validation.
  let tuned: TunedConfiguration[] | undefined;
  if (spec.training.search) {
    const inputs = await loadTrainingInputs(spec, encoded.featureSet, encoded.transform);
    const outcomes = await searchAlgorithms(
      spec,
      async (trial) => runTrial(spec, inputs.data, variantFor(inputs, trial.algorithm), trial),
      { concurrency: 1 },
    );
    tuned = outcomes.map((outcome) => outcome.best);
  }
  const output = await trainAndPackage(
    {
      spec,
      features,
      seed: spec.training.seed,
      featureSet: encoded.featureSet,
      transform: encoded.transform,
      ...(tuned ? { tuned } : {}),
    },
    quiet,
  );
  const pkg = parsePackage(Buffer.from(output.packageBytes));
  const positive = String(spec.target.positive);
  const negative = pkg.model.classes?.find((label) => label !== positive) ?? 'DOWN';
  const harnessModel = (document: typeof pkg.model): HarnessModel => {
    const predictor = new Predictor(document);
    return {
      predict: (batch) =>
        Array.from(predictor.predictRecords(batch.map((row) => ({ ...row }) as never)), (p) =>
          p >= 0.5 ? positive : negative,
        ),
    };
  };
  const splits = (await readParquet(Buffer.from(encoded.featureSet))).columns.find((c) => c.name === SPLIT_COLUMN)!;
  const holdout: number[] = [];
  splits.values.forEach((split, i) => {
    if (split === 'holdout') holdout.push(i);
  });
  const model = harnessModel(pkg.model);
  return { model, heldOutModel: pkg.evaluation ? harnessModel(heldOutView(pkg).model) : model, holdout };
}
