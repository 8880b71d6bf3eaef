import { Injectable, NotFoundException, type OnApplicationBootstrap } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { movableBuffers, WorkerPool } from '@keel/workers';
import { type DatasetDiff } from './dataset-diff';
import { datasetDiffTask } from './dataset-diff.task';
import { type DatasetVersion, DatasetsRepository } from './datasets.repository';

/** A version as the diff names it. */
export interface DiffedVersion {
  datasetVersionId: string;
  sequence: number | null;
  sha256: string;
  rowCount: number;
  createdAt: Date;
}

/** Diffs two dataset versions of a pipeline: both read sha256-verified, compared on a worker thread. */
@Injectable()
export class DatasetDiffService implements OnApplicationBootstrap {
  constructor(
    private readonly infra: Infrastructure,
    private readonly datasets: DatasetsRepository,
    private readonly workers: WorkerPool,
  ) {}

  /** A worker thread compiles its modules on its first task, which takes seconds: paid at start-up, not by a job. */
  async onApplicationBootstrap(): Promise<void> {
    await this.workers.warm(datasetDiffTask);
  }

  async diff(
    pipelineId: string,
    fromId: string,
    toId: string,
  ): Promise<DatasetDiff & { pipelineId: string; from: DiffedVersion; to: DiffedVersion }> {
    const [from, to] = await Promise.all([this.version(pipelineId, fromId), this.version(pipelineId, toId)]);
    const attributes = { [KeelAttr.PIPELINE_ID]: pipelineId, [KeelAttr.DATASET_VERSION]: to.datasetVersionId };
    const [fromBytes, toBytes] = await withSpan('load dataset versions', attributes, () =>
      Promise.all([from, to].map(({ uri, sha256 }) => this.infra.objects.getVerified({ uri, sha256 }))),
    );
    const diff = await this.workers.run(
      datasetDiffTask,
      { from: fromBytes, to: toBytes },
      { transferList: movableBuffers(fromBytes, toBytes), attributes },
    );
    return { pipelineId, from: describe(from), to: describe(to), ...diff };
  }

  private async version(pipelineId: string, idOrSequence: string): Promise<DatasetVersion> {
    const found = await this.datasets.find(pipelineId, idOrSequence);
    if (!found)
      throw new NotFoundException({ message: `pipeline "${pipelineId}" has no dataset version "${idOrSequence}"` });
    return found;
  }
}

function describe(version: DatasetVersion): DiffedVersion {
  return {
    datasetVersionId: version.datasetVersionId,
    sequence: version.sequence ?? null,
    sha256: version.sha256,
    rowCount: version.rowCount,
    createdAt: version.createdAt,
  };
}
