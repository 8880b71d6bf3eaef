import { type PipelineSpecV1 } from '@keel/contracts';
import { defineWorkerTask, type WorkerTaskContext } from '@keel/workers';
import { loadTrainingInputs, type TrainingInputs, variantFor } from './training-run.task';
import { runTrial, type TrialOutcome, type TrialSetup } from './tuning';

export interface TrialTaskInput {
  spec: PipelineSpecV1;
  /** Names the feature set and transform bytes below (their sha256), so a worker reads them once per search. */
  inputsKey: string;
  featureSet: Uint8Array;
  transform: Uint8Array;
  trial: TrialSetup;
}

/**
 * The last feature set this worker thread read, featurized: a search sends every trial the same bytes, and parsing
 * them once per thread instead of once per trial is most of a small trial's cost.
 */
let cached: { key: string; inputs: Promise<TrainingInputs> } | undefined;

/** One search trial: train a configuration on the train split and score it on the validation split. */
export async function trial(
  input: TrialTaskInput,
  _context?: Pick<WorkerTaskContext, 'progress'>,
): Promise<TrialOutcome> {
  if (cached?.key !== input.inputsKey) {
    cached = { key: input.inputsKey, inputs: loadTrainingInputs(input.spec, input.featureSet, input.transform) };
  }
  const inputs = await cached.inputs.catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return runTrial(input.spec, inputs.data, variantFor(inputs, input.trial.algorithm), input.trial);
}

/** {@link trial} on a worker thread. */
export const trialTask = defineWorkerTask(
  __filename,
  'trialTask',
  (input: TrialTaskInput, context: WorkerTaskContext) => trial(input, context),
);
