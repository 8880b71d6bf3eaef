import { Injectable } from '@nestjs/common';
import { mongoKeyedTable, VersionedDocuments } from '@keel/coordination';
import { Infrastructure } from '@keel/service-runtime';

/** What an earlier monitoring, which numbered rows on a per-version counter document, left of a version. */
export interface LegacyCount {
  count: number;
  windowRows: number;
}

interface CounterState extends Record<string, unknown> {
  count: number;
  windowRows: number;
}

/** Revisions of the per-version counters an earlier monitoring kept; the retention sweep removes their tombstones. */
export const COUNTER_REVISIONS = 'monitoring_counter_revisions';

/**
 * Read-only access to the per-version counters (`monitoring_counters`) an earlier monitoring wrote on every event:
 * a version that was numbered there continues its windows after them, so a window index is never used twice.
 * Read once per version, when the stream first meets it.
 */
@Injectable()
export class WindowCounterRepository {
  private readonly versions: VersionedDocuments<CounterState>;

  constructor(infra: Infrastructure) {
    this.versions = new VersionedDocuments<CounterState>({
      heads: mongoKeyedTable(infra.mongo, 'monitoring_counters'),
      revisions: mongoKeyedTable(infra.mongo, COUNTER_REVISIONS),
      versionField: 'rev',
    });
  }

  async read(pipelineId: string, modelVersion: number): Promise<LegacyCount | undefined> {
    const latest = await this.versions.read(`${pipelineId}|${modelVersion}`);
    return latest ? { count: latest.state.count, windowRows: latest.state.windowRows } : undefined;
  }
}
