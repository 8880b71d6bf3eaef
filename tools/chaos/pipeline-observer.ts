import { WellKnownAlias } from '@keel/contracts';
import { column, readParquet } from '@keel/datasets';
import { ObjectStore } from '@keel/storage';
import { stackEndpoints } from '@keel/testing';
import mongoose, { type Connection } from 'mongoose';
import { endpoints } from '../demo/pipeline-client';
import { services } from '../services/services';

interface DatasetItem {
  datasetVersionId: string;
  uri: string;
  sha256: string;
  rowCount: number;
}

interface ReportItem {
  datasetVersionId: string;
  passed: boolean;
}

interface VersionItem {
  version: number;
  aliases: string[];
  lineage: { datasetVersionId: string; featureSetId: string };
}

interface AliasMoveItem {
  sequence: number;
  version: number;
  previousVersion?: number;
}

interface WindowItem {
  modelVersion: number;
  windowIndex: number;
  rowCount: number;
}

/** Everything the pipeline has done, read back from the services' APIs, their database and MinIO. */
export interface PipelineEffects {
  datasets: DatasetItem[];
  /** How many rows of all dataset versions carry each record id. */
  rowsPerRecord: Map<string, number>;
  reports: ReportItem[];
  featureSets: { featureSetId: string; datasetVersionId: string }[];
  trainingRuns: { runId: string; featureSetId: string }[];
  versions: VersionItem[];
  championMoves: AliasMoveItem[];
  windows: WindowItem[];
  /** Read only when asked for: the count scans every prediction log (seconds to tens of seconds on FerretDB). */
  predictionsLogged?: number;
}

// Generous: the list and count endpoints scan their collections, which takes seconds on FerretDB under load.
const HTTP_TIMEOUT_MS = 60_000;

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

/** The HTTP API answers 404 for a model nobody registered yet: an empty list, not a failure. */
async function getJsonOrEmpty<T>(url: string, empty: T): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  if (response.status === 404) return empty;
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

/**
 * Reads one pipeline's effects the way an operator would check them: dataset versions and their Parquet rows
 * (through the verified read), validation reports, model versions and alias moves over HTTP; feature sets, training
 * runs and drift windows from the database, which has no HTTP view of them. Dataset versions are immutable, so
 * each one's record ids are read once.
 */
export class PipelineObserver {
  private readonly objects = new ObjectStore(stackEndpoints.s3);
  private readonly recordIdsByVersion = new Map<string, string[]>();
  private db?: Connection;

  /** `recordIdColumn`: the dataset column that carries each published record's id, where the caller adds one. */
  constructor(
    readonly pipelineId: string,
    private readonly recordIdColumn?: string,
  ) {}

  private async database(): Promise<Connection> {
    // Short timeouts: during a database outage a read fails and is retried on the next poll rather than hanging.
    this.db ??= await mongoose
      .createConnection(stackEndpoints.mongoUrl, { serverSelectionTimeoutMS: 5_000, socketTimeoutMS: 60_000 })
      .asPromise();
    return this.db;
  }

  async close(): Promise<void> {
    await this.db?.close();
  }

  async datasets(): Promise<DatasetItem[]> {
    const { items } = await getJson<{ items: DatasetItem[] }>(
      `${endpoints.ingestionHttp}/api/v1/pipelines/${this.pipelineId}/datasets`,
    );
    return items;
  }

  /** Rows per record id across every dataset version of the pipeline. */
  async rowsPerRecord(datasets: readonly DatasetItem[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const dataset of datasets) {
      let ids = this.recordIdsByVersion.get(dataset.datasetVersionId);
      if (!ids) {
        if (this.recordIdColumn === undefined) throw new Error('rows per record need the record id column');
        const bytes = await this.objects.getVerified({ uri: dataset.uri, sha256: dataset.sha256 });
        ids = column(await readParquet(bytes), this.recordIdColumn).values.map(String);
        this.recordIdsByVersion.set(dataset.datasetVersionId, ids);
      }
      for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return counts;
  }

  async reports(): Promise<ReportItem[]> {
    const { items } = await getJson<{ items: ReportItem[] }>(
      `${endpoints.validationHttp}/api/v1/pipelines/${this.pipelineId}/reports`,
    );
    return items;
  }

  async versions(): Promise<VersionItem[]> {
    const { versions } = await getJsonOrEmpty<{ versions: VersionItem[] }>(
      `${endpoints.registryHttp}/api/v1/models/${this.pipelineId}/versions`,
      { versions: [] },
    );
    return versions;
  }

  async championMoves(): Promise<AliasMoveItem[]> {
    const { moves } = await getJsonOrEmpty<{ moves: AliasMoveItem[] }>(
      `${endpoints.registryHttp}/api/v1/models/${this.pipelineId}/aliases/${WellKnownAlias.CHAMPION}/history`,
      { moves: [] },
    );
    return moves;
  }

  async predictionsLogged(): Promise<number> {
    const { count } = await getJson<{ count: number }>(
      `${endpoints.monitoringHttp}/api/v1/pipelines/${this.pipelineId}/predictions/count`,
    );
    return count;
  }

  // The scans below filter by pipelineId, off any hot path (docs/design/repositories.md).
  async featureSets(): Promise<PipelineEffects['featureSets']> {
    const db = await this.database();
    return db
      .collection<{ featureSetId: string; datasetVersionId: string }>('feature_sets')
      .find({ pipelineId: this.pipelineId }, { projection: { _id: 0, featureSetId: 1, datasetVersionId: 1 } })
      .toArray();
  }

  async trainingRuns(): Promise<PipelineEffects['trainingRuns']> {
    const db = await this.database();
    return db
      .collection<{ runId: string; featureSetId: string }>('training_runs')
      .find({ pipelineId: this.pipelineId }, { projection: { _id: 0, runId: 1, featureSetId: 1 } })
      .toArray();
  }

  async windows(): Promise<WindowItem[]> {
    const db = await this.database();
    return db
      .collection<WindowItem>('drift_windows')
      .find({ pipelineId: this.pipelineId }, { projection: { _id: 0, modelVersion: 1, windowIndex: 1, rowCount: 1 } })
      .toArray();
  }

  async windowRows(): Promise<number> {
    return (await this.windows()).reduce((sum, window) => sum + window.rowCount, 0);
  }

  async effects({ countLogs }: { countLogs: boolean }): Promise<PipelineEffects> {
    const datasets = await this.datasets();
    return {
      datasets,
      rowsPerRecord: await this.rowsPerRecord(datasets),
      reports: await this.reports(),
      featureSets: await this.featureSets(),
      trainingRuns: await this.trainingRuns(),
      versions: await this.versions(),
      championMoves: await this.championMoves(),
      windows: await this.windows(),
      ...(countLogs ? { predictionsLogged: await this.predictionsLogged() } : {}),
    };
  }
}

/** Names of the services whose `/health` does not answer 200 right now. */
export async function unhealthyServices(): Promise<string[]> {
  const states = await Promise.all(
    services.map(async ({ name, httpPort }) => {
      const response = await fetch(`http://127.0.0.1:${httpPort}/health`, { signal: AbortSignal.timeout(3_000) }).catch(
        () => undefined,
      );
      return response?.status === 200 ? [] : [name];
    }),
  );
  return states.flat();
}
