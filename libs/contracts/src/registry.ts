import { type EventContract } from './event-contract';
import { AlertRaisedV1 } from './events/alert-raised';
import { ModelAliasChangedV1 } from './events/alias-changed';
import { ModelRolloutObservedV1 } from './events/rollout-observed';
import { ModelRolloutTransitionedV1 } from './events/rollout-transitioned';
import { DataRecordsV1 } from './events/data-records';
import { DatasetIngestedV1 } from './events/dataset-ingested';
import { DatasetRejectedV1 } from './events/dataset-rejected';
import { DatasetValidatedV1 } from './events/dataset-validated';
import { DriftDetectedV1 } from './events/drift-detected';
import { FeaturesMaterializedV1 } from './events/features-materialized';
import { OnlineViewUpdatedV1 } from './events/online-view-updated';
import { LabelReceivedV1 } from './events/label-received';
import { LabelWindowClosedV1 } from './events/label-window-closed';
import { ModelRegisteredV1 } from './events/model-registered';
import { ModelTrainedV1 } from './events/model-trained';
import { PredictionLoggedV1 } from './events/prediction-logged';
import { PredictionLoggedV2 } from './events/prediction-logged-v2';
import { TrainingRequestedV1 } from './events/training-requested';
import { TrainingFailedV1 } from './events/training-failed';
import { TrainingRequestedV2 } from './events/training-requested-v2';

/** Every event type of the platform, in pipeline order. A test walks it and parses each golden fixture. */
export const eventRegistry: readonly EventContract[] = [
  DataRecordsV1,
  DatasetIngestedV1,
  DatasetValidatedV1,
  DatasetRejectedV1,
  FeaturesMaterializedV1,
  OnlineViewUpdatedV1,
  ModelTrainedV1,
  ModelRegisteredV1,
  ModelAliasChangedV1,
  ModelRolloutTransitionedV1,
  ModelRolloutObservedV1,
  PredictionLoggedV1,
  PredictionLoggedV2,
  LabelReceivedV1,
  LabelWindowClosedV1,
  DriftDetectedV1,
  TrainingRequestedV1,
  TrainingRequestedV2,
  TrainingFailedV1,
  AlertRaisedV1,
];

/** Topics to create at start-up: every event topic and its dead-letter topic. */
export function allTopics(): string[] {
  return eventRegistry.flatMap((contract) => [contract.topic, `${contract.topic}.dlq`]);
}

export function contractForTopic(topic: string): EventContract | undefined {
  return eventRegistry.find((contract) => contract.topic === topic);
}
