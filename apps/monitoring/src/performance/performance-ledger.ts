import { type EventData, type LabelWindowClosedV1 } from '@keel/contracts';
import { UNKNOWN_CLASS } from './performance-metrics';
import { type LabelWindowEvent, type PerformanceRepository } from './performance.repository';
import { type ClosedLabelWindow, type PerformanceSettings, VersionPerformance } from './version-performance';

interface Entry {
  performance: VersionPerformance;
  outbox: LabelWindowEvent[];
  dirty: boolean;
}

const key = (pipelineId: string, modelVersion: number) => `${pipelineId}|${modelVersion}`;

/** The event of a closed label window (without its estimate, which needs the archive). */
export function windowEvent(
  performance: VersionPerformance,
  closed: ClosedLabelWindow,
): EventData<typeof LabelWindowClosedV1> {
  const { pipelineId, modelName, modelVersion } = performance.ref;
  return {
    pipelineId: pipelineId as LabelWindowEvent['pipelineId'],
    modelName,
    modelVersion,
    task: performance.settings.task,
    windowIndex: closed.windowIndex,
    labelledCount: closed.labelledCount,
    firstServedAt: new Date(closed.firstServedAt).toISOString(),
    lastServedAt: new Date(closed.lastServedAt).toISOString(),
    metrics: closed.metrics,
    ...(performance.settings.task === 'multiclass-classification'
      ? { unknownClassLabels: closed.labels.filter((label) => label === UNKNOWN_CLASS).length }
      : {}),
    conceptDrift: closed.conceptDrift,
  };
}

/**
 * The performance states the label join works on while it holds the join lease: loaded once, changed in memory,
 * saved with their outboxes (the events of windows closed) at the end of each round. Dropped when the lease is lost
 * or a round fails, so memory never runs ahead of the store into the next round.
 */
export class PerformanceLedger {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly repository: PerformanceRepository,
    readonly epoch: number,
  ) {}

  /** A version's state: loaded, or started with `settings` when its first label joins. */
  async version(
    ref: { pipelineId: string; modelName: string; modelVersion: number },
    settings: () => Promise<PerformanceSettings>,
  ): Promise<VersionPerformance> {
    const id = key(ref.pipelineId, ref.modelVersion);
    let entry = this.entries.get(id);
    if (!entry) {
      const stored = await this.repository.load(ref.pipelineId, ref.modelVersion);
      entry = stored
        ? {
            performance: VersionPerformance.fromJSON(stored.state),
            outbox: stored.outbox,
            dirty: stored.outbox.length > 0,
          }
        : { performance: VersionPerformance.start(ref, await settings()), outbox: [], dirty: true };
      this.entries.set(id, entry);
    }
    return entry.performance;
  }

  /** Marks a version changed; `closed` events go to its outbox. */
  touch(performance: VersionPerformance, closed: readonly LabelWindowEvent[] = []): void {
    const entry = this.entries.get(key(performance.ref.pipelineId, performance.ref.modelVersion))!;
    entry.dirty = true;
    entry.outbox.push(...closed);
  }

  /** Saves the changed versions with their outboxes; returns the outboxes to publish. */
  async save(): Promise<{ pipelineId: string; modelVersion: number; events: LabelWindowEvent[] }[]> {
    const dirty = [...this.entries.values()].filter((entry) => entry.dirty);
    await this.repository.save(
      dirty.map((entry) => ({ state: entry.performance.toJSON(), outbox: entry.outbox })),
      this.epoch,
    );
    for (const entry of dirty) entry.dirty = false;
    return dirty
      .filter((entry) => entry.outbox.length > 0)
      .map((entry) => ({ ...entry.performance.ref, events: entry.outbox }));
  }

  /** Drops a pipeline's versions from memory (a failed round): the next use reloads them from the store. */
  forget(pipelineId: string): void {
    for (const [id, entry] of this.entries) {
      if (entry.performance.ref.pipelineId === pipelineId) this.entries.delete(id);
    }
  }

  /** The outbox of a version was published: empties it in memory and in the store. */
  async published(pipelineId: string, modelVersion: number): Promise<void> {
    const entry = this.entries.get(key(pipelineId, modelVersion));
    if (entry) entry.outbox = [];
    await this.repository.clearOutbox(pipelineId, modelVersion);
  }
}
