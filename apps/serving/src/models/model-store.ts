import { Injectable } from '@nestjs/common';
import { type LoadedModel } from './loaded-model';

/**
 * The model each pipeline serves, one reference per pipeline. A swap replaces the reference in one step; a request
 * reads the reference once and keeps that model to the end, so in-flight requests are never dropped or mixed.
 */
@Injectable()
export class ModelStore {
  private readonly models = new Map<string, LoadedModel>();
  /** Pipelines whose champion the registry confirmed, and its version. */
  private readonly champions = new Map<string, number>();
  private initialSyncDone = false;

  get(pipelineId: string): LoadedModel | undefined {
    return this.models.get(pipelineId);
  }

  all(): LoadedModel[] {
    return [...this.models.values()];
  }

  swap(model: LoadedModel): LoadedModel | undefined {
    const previous = this.models.get(model.pipelineId);
    this.models.set(model.pipelineId, model);
    return previous;
  }

  /** Records what the registry says the champion is (undefined: none yet). */
  setChampion(pipelineId: string, version: number | undefined): void {
    if (version === undefined) this.champions.delete(pipelineId);
    else this.champions.set(pipelineId, version);
  }

  markInitialSyncDone(): void {
    this.initialSyncDone = true;
  }

  /**
   * Ready once the start-up sync is done and every pipeline with a champion has a model serving. A replica whose
   * latest swap failed keeps serving the previous version and stays ready: pulling it would drop traffic for nothing.
   */
  isReady(): boolean {
    if (!this.initialSyncDone) return false;
    for (const pipelineId of this.champions.keys()) if (!this.models.has(pipelineId)) return false;
    return true;
  }
}
