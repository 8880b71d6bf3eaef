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
  /** Champion versions given up on after every retry (bad package), per pipeline. */
  private readonly givenUp = new Map<string, number>();
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
    this.givenUp.delete(model.pipelineId);
    return previous;
  }

  /** Records what the registry says the champion is (undefined: none yet). */
  setChampion(pipelineId: string, version: number | undefined): void {
    if (version === undefined) this.champions.delete(pipelineId);
    else this.champions.set(pipelineId, version);
  }

  /** Records that this champion version could not be loaded after every retry. */
  markGivenUp(pipelineId: string, version: number): void {
    this.givenUp.set(pipelineId, version);
  }

  markInitialSyncDone(): void {
    this.initialSyncDone = true;
  }

  /**
   * Ready once the start-up sync is done and every pipeline with a champion has a model serving, or has had its
   * champion given up on (a bad package, logged and counted; ModelReady says false for it). One broken package
   * must not take a replica out of rotation for every other model; a replica whose latest swap failed keeps
   * serving the previous version and stays ready.
   */
  isReady(): boolean {
    if (!this.initialSyncDone) return false;
    for (const [pipelineId, version] of this.champions) {
      if (!this.models.has(pipelineId) && this.givenUp.get(pipelineId) !== version) return false;
    }
    return true;
  }
}
