import { Injectable } from '@nestjs/common';
import { type EventData, type LabelReceivedV1 } from '@keel/contracts';
import { predictionKey } from '../prediction-key';
import { LabelCountsRepository } from './label-counts.repository';
import { LabelLogRepository } from './label-log.repository';
import { LabelJoinMetrics } from './label-join.metrics';

/** What one label event did. */
export interface StoredLabels {
  /** Labels stored pending for the join (new, or a different label for a prediction already labelled). */
  stored: number;
  /** Labels repeated within the event, or equal to the label already stored for their prediction. */
  duplicates: number;
}

/**
 * Takes labels in: stores each pending for the join (LabelJoinService), which matches it to its served prediction.
 * A label repeated in one event, or sent again unchanged, is counted as a duplicate here and changes nothing.
 */
@Injectable()
export class LabelsService {
  constructor(
    private readonly labels: LabelLogRepository,
    private readonly counts: LabelCountsRepository,
    private readonly metrics: LabelJoinMetrics,
  ) {}

  async store(event: EventData<typeof LabelReceivedV1>): Promise<StoredLabels> {
    const { pipelineId } = event;
    // Within one event the last label of a prediction wins, as it would across events.
    const byPrediction = new Map(event.labels.map((label) => [label.predictionId, label]));
    const stored = await this.labels.stored([...byPrediction.keys()].map((id) => predictionKey(pipelineId, id)));
    const changed = [...byPrediction.values()].filter((label) => {
      const before = stored.get(predictionKey(pipelineId, label.predictionId));
      return !before || before.label !== label.label || before.observedAt.getTime() !== Date.parse(label.observedAt);
    });
    await this.labels.upsertMany(
      changed.map((label) => ({
        predictionId: label.predictionId,
        pipelineId,
        label: label.label,
        observedAt: new Date(label.observedAt),
      })),
    );
    const duplicates = event.labels.length - changed.length;
    await this.counts.addIntake(pipelineId, { received: event.labels.length, duplicate: duplicates });
    this.metrics.received.inc({ pipeline: pipelineId }, event.labels.length);
    if (duplicates > 0) this.metrics.outcomes.inc({ pipeline: pipelineId, outcome: 'duplicate' }, duplicates);
    return { stored: changed.length, duplicates };
  }
}
