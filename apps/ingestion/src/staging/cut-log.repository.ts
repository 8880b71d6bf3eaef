import { Injectable } from '@nestjs/common';
import { mongoKeyedTable, type Versioned, VersionedDocuments } from '@keel/coordination';
import { Infrastructure } from '@keel/service-runtime';
import { type PlannedVersion } from './planned-cut';

/**
 * Where a pipeline's latest cut stands: `planned` names the staged batches it takes before anything is written, and
 * then the version they encode to before that is written (planned-cut.ts; absent in plans of builds before it),
 * `written` once their dataset version is durable (the batches may still be waiting to be deleted), `closed` once
 * they are gone. A batch joins one plan only, and a plan is finished exactly as it was written, so every staged
 * record lands in exactly one dataset version whoever finishes it (this replica, another one, or this one after a
 * crash).
 */
export type CutState =
  | ({ phase: 'planned'; batchIds: string[] } & Partial<PlannedVersion>)
  | { phase: 'written'; batchIds: string[]; datasetVersionId: string | null }
  | { phase: 'closed' };

/**
 * The cut log of each pipeline (`staging_cuts`, heads in `staging_cut_heads`): a state moved by compare-and-set
 * (docs/design/repositories.md rule 2), so of two cutters that read the same state exactly one moves it on.
 */
@Injectable()
export class CutLogRepository {
  private readonly cuts: VersionedDocuments<CutState>;

  constructor(infra: Infrastructure) {
    this.cuts = new VersionedDocuments<CutState>({
      revisions: mongoKeyedTable(infra.mongo, 'staging_cuts'),
      heads: mongoKeyedTable(infra.mongo, 'staging_cut_heads'),
      keepStates: 8,
    });
  }

  latest(pipelineId: string): Promise<Versioned<CutState> | null> {
    return this.cuts.read(pipelineId);
  }

  /** Moves the pipeline's cut on from `basedOn`; false when another cutter moved it first. */
  advance(pipelineId: string, basedOn: number, state: CutState): Promise<boolean> {
    return this.cuts.write(pipelineId, basedOn, state);
  }
}
