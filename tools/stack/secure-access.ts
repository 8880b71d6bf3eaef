/**
 * Who may do what in the secure profile: each service's Kafka topics (what it publishes, what it consumes, and the
 * dead-letter topics of what it consumes) and its object-store buckets. The secure stack turns this into SCRAM users
 * and ACLs on its broker and into users and policies on its MinIO (tools/stack/secure.ts); the Kubernetes manifests
 * name the same users (deploy/k8s/base/secrets.yaml), and a unit test keeps the two in step.
 */
import {
  AlertRaisedV1,
  DataRecordsV1,
  DatasetIngestedV1,
  DatasetRejectedV1,
  DatasetValidatedV1,
  deadLetterTopic,
  DriftDetectedV1,
  type EventContract,
  FeaturesMaterializedV1,
  LabelReceivedV1,
  LabelWindowClosedV1,
  ModelAliasChangedV1,
  ModelRegisteredV1,
  ModelRolloutObservedV1,
  ModelRolloutTransitionedV1,
  ModelTrainedV1,
  OnlineViewUpdatedV1,
  PredictionLoggedV1,
  PredictionLoggedV2,
  TrainingFailedV1,
  TrainingRequestedV1,
  TrainingRequestedV2,
} from '@keel/contracts';
import { BUCKETS } from '@keel/storage';

export const SECURE_SERVICES = [
  'ingestion',
  'validation',
  'features',
  'training',
  'registry',
  'serving',
  'monitoring',
] as const;
export type SecureService = (typeof SECURE_SERVICES)[number];

/** A Kafka principal that is not a service: upstream systems publishing records and labels. */
export const UPSTREAM_PRINCIPAL = 'upstream';

/** The broker's only super user: creates topics and ACLs, and nothing runs as it. */
export const KAFKA_ADMIN_PRINCIPAL = 'keel-admin';

interface KafkaAccess {
  produces: readonly EventContract[];
  consumes: readonly EventContract[];
}

/** What each service publishes and consumes (its consumer groups are `<service>.<name>`). */
export const kafkaAccess: Record<SecureService | typeof UPSTREAM_PRINCIPAL, KafkaAccess> = {
  upstream: { produces: [DataRecordsV1, LabelReceivedV1], consumes: [] },
  ingestion: { produces: [DatasetIngestedV1], consumes: [DataRecordsV1] },
  validation: { produces: [DatasetValidatedV1, DatasetRejectedV1], consumes: [DatasetIngestedV1] },
  features: {
    produces: [FeaturesMaterializedV1, OnlineViewUpdatedV1],
    consumes: [DatasetValidatedV1, TrainingRequestedV1, TrainingRequestedV2],
  },
  training: {
    produces: [ModelTrainedV1, TrainingFailedV1, TrainingRequestedV2],
    consumes: [FeaturesMaterializedV1],
  },
  registry: {
    produces: [ModelRegisteredV1, ModelAliasChangedV1, ModelRolloutTransitionedV1],
    consumes: [ModelTrainedV1, ModelRolloutObservedV1],
  },
  serving: {
    produces: [PredictionLoggedV2, ModelRolloutObservedV1],
    consumes: [ModelAliasChangedV1, ModelRolloutTransitionedV1, OnlineViewUpdatedV1],
  },
  monitoring: {
    produces: [AlertRaisedV1, DriftDetectedV1, LabelWindowClosedV1, PredictionLoggedV2, TrainingRequestedV2],
    consumes: [
      AlertRaisedV1,
      DatasetRejectedV1,
      DatasetValidatedV1,
      DriftDetectedV1,
      LabelReceivedV1,
      LabelWindowClosedV1,
      ModelRegisteredV1,
      ModelRolloutTransitionedV1,
      PredictionLoggedV1,
      PredictionLoggedV2,
      TrainingFailedV1,
    ],
  },
};

/** One ACL: kafkajs' createAcls fields, by name (the numeric enums are looked up where the ACLs are created). */
export interface AclBinding {
  resourceType: 'TOPIC' | 'GROUP';
  resourceName: string;
  patternType: 'LITERAL' | 'PREFIXED';
  principal: string;
  operation: 'READ' | 'WRITE' | 'DESCRIBE' | 'DELETE';
}

/**
 * The ACLs of one principal: WRITE on what it publishes and on the dead-letter topics of what it consumes, READ on
 * what it consumes and on its own consumer groups (DELETE too: serving removes its per-process groups at shutdown),
 * and DESCRIBE on every Keel topic, so its start-up check that the topics exist sees them (names only, no data).
 */
export function aclsOf(name: SecureService | typeof UPSTREAM_PRINCIPAL): AclBinding[] {
  const principal = `User:${name}`;
  const { produces, consumes } = kafkaAccess[name];
  const topic = (resourceName: string, operation: AclBinding['operation']): AclBinding => ({
    resourceType: 'TOPIC',
    resourceName,
    patternType: 'LITERAL',
    principal,
    operation,
  });
  const group = (operation: AclBinding['operation']): AclBinding => ({
    resourceType: 'GROUP',
    resourceName: `${name}.`,
    patternType: 'PREFIXED',
    principal,
    operation,
  });
  return [
    { resourceType: 'TOPIC', resourceName: 'mlops.', patternType: 'PREFIXED', principal, operation: 'DESCRIBE' },
    ...produces.map((contract) => topic(contract.topic, 'WRITE')),
    ...consumes.map((contract) => topic(contract.topic, 'READ')),
    ...consumes.map((contract) => topic(deadLetterTopic(contract.topic), 'WRITE')),
    ...(consumes.length > 0 ? [group('READ'), group('DELETE')] : []),
  ];
}

/** Buckets each service reads and writes; every consumer may also write its dead letters' payloads. */
export const bucketAccess: Record<SecureService, { reads: readonly string[]; writes: readonly string[] }> = {
  ingestion: { reads: [BUCKETS.datasets], writes: [BUCKETS.datasets] },
  validation: { reads: [BUCKETS.datasets], writes: [BUCKETS.reports] },
  features: { reads: [BUCKETS.datasets], writes: [BUCKETS.features] },
  training: { reads: [BUCKETS.datasets, BUCKETS.features], writes: [BUCKETS.models] },
  registry: { reads: [BUCKETS.models, BUCKETS.features, BUCKETS.datasets, BUCKETS.reports], writes: [] },
  // features: the online views of joined feature tables
  serving: { reads: [BUCKETS.models, BUCKETS.features], writes: [] },
  monitoring: {
    reads: [BUCKETS.models, BUCKETS.features, BUCKETS.datasets, BUCKETS.monitoring],
    writes: [BUCKETS.monitoring],
  },
};

/**
 * One service's MinIO policy: list every Keel bucket (its start-up check that the buckets exist; names, no content),
 * read its buckets' objects, write its own, and write dead-letter payloads under the topics it consumes only.
 */
export function bucketPolicyOf(service: SecureService): object {
  const { reads, writes } = bucketAccess[service];
  const objects = (buckets: readonly string[]) => buckets.map((bucket) => `arn:aws:s3:::${bucket}/*`);
  const deadLetters = kafkaAccess[service].consumes.map(
    (contract) => `arn:aws:s3:::${BUCKETS.deadLetters}/dead-letters/${contract.topic}/*`,
  );
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['s3:ListBucket', 's3:GetBucketLocation'],
        Resource: Object.values(BUCKETS).map((bucket) => `arn:aws:s3:::${bucket}`),
      },
      { Effect: 'Allow', Action: ['s3:GetObject'], Resource: objects([...new Set([...reads, ...writes])]) },
      ...(writes.length + deadLetters.length > 0
        ? [
            {
              Effect: 'Allow',
              Action: ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
              Resource: [...objects(writes), ...deadLetters],
            },
          ]
        : []),
    ],
  };
}
