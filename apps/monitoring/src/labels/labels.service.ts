import { Injectable } from '@nestjs/common';
import { type EventData, type LabelReceivedV1 } from '@keel/contracts';
import { LabelLogRepository } from './label-log.repository';

/** Stores ground truth so performance and concept drift can join it to the prediction log later. */
@Injectable()
export class LabelsService {
  constructor(private readonly labels: LabelLogRepository) {}

  async store(event: EventData<typeof LabelReceivedV1>): Promise<number> {
    // Within one event the last label of a prediction wins, as it would across events.
    const byPrediction = new Map(event.labels.map((label) => [label.predictionId, label]));
    await this.labels.upsertMany(
      [...byPrediction.values()].map((label) => ({
        predictionId: label.predictionId,
        pipelineId: event.pipelineId,
        label: label.label,
        observedAt: new Date(label.observedAt),
      })),
    );
    return byPrediction.size;
  }
}
