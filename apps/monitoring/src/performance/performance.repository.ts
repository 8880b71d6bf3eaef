import { Injectable, type OnModuleInit } from '@nestjs/common';
import { type EventData, type LabelWindowClosedV1 } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { type Collection } from 'mongodb';
import { type VersionPerformanceJson } from './version-performance';

export type LabelWindowEvent = EventData<typeof LabelWindowClosedV1>;

interface StateDocument {
  _id: string;
  pipelineId: string;
  modelVersion: number;
  /** VersionPerformanceJson as a string: the detector's histogram is nested arrays, which the store does not take. */
  json: string;
  /** Events of closed windows not yet known to be published (an outbox: republished until cleared). */
  outbox: string;
  /** Epoch of the join lease the writer held (the fencing token). */
  epoch: number;
  updatedAt: Date;
}

/** A closed label window as the HTTP view lists it. */
export interface StoredLabelWindow extends LabelWindowEvent {
  closedAt: Date;
}

interface WindowDocument extends StoredLabelWindow {
  _id: string;
}

const stateId = (pipelineId: string, modelVersion: number) => `${pipelineId}|${modelVersion}`;
const windowKey = (pipelineId: string, modelVersion: number, windowIndex: number) =>
  `${pipelineId}|${modelVersion}|${windowIndex}`;

/** The performance state of each model version (`performance_states`) and its closed label windows (`performance_windows`). */
@Injectable()
export class PerformanceRepository implements OnModuleInit {
  private readonly states: Collection<StateDocument>;
  private readonly windows: Collection<WindowDocument>;

  constructor(infra: Infrastructure) {
    this.states = infra.mongo.collection<StateDocument>('performance_states');
    this.windows = infra.mongo.collection<WindowDocument>('performance_windows');
  }

  async onModuleInit(): Promise<void> {
    await this.states.createIndex({ pipelineId: 1 });
    await this.windows.createIndex({ pipelineId: 1, modelVersion: 1, windowIndex: -1 });
  }

  async load(
    pipelineId: string,
    modelVersion: number,
  ): Promise<{ state: VersionPerformanceJson; outbox: LabelWindowEvent[] } | undefined> {
    const found = await this.states.findOne({ _id: stateId(pipelineId, modelVersion) });
    if (!found) return undefined;
    return {
      state: JSON.parse(found.json) as VersionPerformanceJson,
      outbox: JSON.parse(found.outbox) as LabelWindowEvent[],
    };
  }

  /** Every version's state of a pipeline (the HTTP view). */
  async loadPipeline(pipelineId: string): Promise<VersionPerformanceJson[]> {
    const found = await this.states.find({ pipelineId }).toArray();
    return found
      .map((doc) => JSON.parse(doc.json) as VersionPerformanceJson)
      .sort((a, b) => b.modelVersion - a.modelVersion);
  }

  /** Saves states and their outboxes, and the windows the outboxes hold (before their events are published). */
  async save(
    saved: readonly { state: VersionPerformanceJson; outbox: readonly LabelWindowEvent[] }[],
    epoch: number,
  ): Promise<void> {
    const windows = saved.flatMap(({ outbox }) => outbox);
    if (windows.length > 0) {
      const closedAt = new Date();
      await this.windows.bulkWrite(
        windows.map((event) => ({
          replaceOne: {
            filter: { _id: windowKey(event.pipelineId, event.modelVersion, event.windowIndex) },
            replacement: { ...event, closedAt },
            upsert: true,
          },
        })),
        { ordered: false },
      );
    }
    if (saved.length === 0) return;
    const updatedAt = new Date();
    await this.states.bulkWrite(
      saved.map(({ state, outbox }) => ({
        replaceOne: {
          filter: { _id: stateId(state.pipelineId, state.modelVersion) },
          replacement: {
            pipelineId: state.pipelineId,
            modelVersion: state.modelVersion,
            json: JSON.stringify(state),
            outbox: JSON.stringify(outbox),
            epoch,
            updatedAt,
          },
          upsert: true,
        },
      })),
      { ordered: false },
    );
  }

  /** Empties a version's outbox once its events are published. */
  async clearOutbox(pipelineId: string, modelVersion: number): Promise<void> {
    await this.states.updateOne({ _id: stateId(pipelineId, modelVersion) }, { $set: { outbox: '[]' } });
  }

  /** A version's closed windows, newest first. */
  async windowsOf(pipelineId: string, modelVersion: number, limit: number): Promise<StoredLabelWindow[]> {
    const found = await this.windows
      .find({ pipelineId: pipelineId as LabelWindowEvent['pipelineId'], modelVersion }, { projection: { _id: 0 } })
      .sort({ windowIndex: -1 })
      .limit(limit)
      .toArray();
    return found as StoredLabelWindow[];
  }
}
