import { Injectable } from '@nestjs/common';
import { type FeatureReference } from '@keel/model-package';
import { WorkerPool } from '@keel/workers';
import { type WindowDrift } from './drift-evaluator';
import { driftWindowTask } from './drift-evaluator.task';

/** Evaluates drift windows on the service's worker pool, off the event loop. */
@Injectable()
export class DriftEvaluator {
  constructor(private readonly workers: WorkerPool) {}

  /** Compares a window's accumulated summaries (summariesToJson) with the training reference. */
  async evaluate(
    reference: Readonly<Record<string, FeatureReference>>,
    summariesJson: string,
    psiThreshold: number,
  ): Promise<WindowDrift> {
    const { drift } = await this.workers.run(driftWindowTask, { reference, summariesJson, psiThreshold });
    return drift;
  }
}
