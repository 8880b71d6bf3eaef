import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { type FeatureReference } from '@keel/model-package';
import { WorkerPool } from '@keel/workers';
import { type DriftTests, type WindowDrift } from './drift-evaluator';
import {
  type DriftWindowInput,
  type DriftWindowsInput,
  type DriftWindowsOutput,
  driftWindowsTask,
  driftWindowTask,
} from './drift-evaluator.task';

/** Evaluates drift windows on the service's worker pool, off the event loop. */
@Injectable()
export class DriftEvaluator implements OnApplicationBootstrap {
  constructor(private readonly workers: WorkerPool) {}

  /** A worker thread compiles its modules on its first task, which takes seconds: paid at start-up, not by a job. */
  async onApplicationBootstrap(): Promise<void> {
    // Both tasks live in one module: warming one loads both.
    await this.workers.warm(driftWindowsTask);
  }

  /** Compares a window's accumulated summaries (summariesToJson) with the training reference. */
  async evaluate(
    reference: Readonly<Record<string, FeatureReference>>,
    summariesJson: string,
    tests: DriftTests,
    predictionDrift?: DriftWindowInput['predictionDrift'],
  ): Promise<WindowDrift> {
    const { drift } = await this.workers.run(driftWindowTask, { reference, summariesJson, tests, predictionDrift });
    return drift;
  }

  /** Evaluates many closed windows in one worker task; each result is its window's drift or why it failed. */
  async evaluateMany(windows: DriftWindowsInput['windows']): Promise<DriftWindowsOutput['results']> {
    if (windows.length === 0) return [];
    const { results } = await this.workers.run(driftWindowsTask, { windows });
    return results;
  }
}
