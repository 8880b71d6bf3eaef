export {
  IntegrityError,
  ObjectNotFoundError,
  ObjectTooLargeError,
  StorageError,
  type StorageErrorCode,
  toStorageError,
} from './errors';
export { ObjectStore, type ObjectStoreConfig, type StoredObject, type VerifiedRead } from './object-store';
export { formatObjectUri, type ObjectLocation, parseObjectUri, sha256InKey } from './object-uri';

/** Buckets the platform uses, one per kind of artifact. */
export const BUCKETS = {
  datasets: 'keel-datasets',
  reports: 'keel-reports',
  features: 'keel-features',
  models: 'keel-models',
  /** Monitoring's checkpoints and its archive of served predictions (Parquet, for the label join). */
  monitoring: 'keel-monitoring',
  /** Values of dead letters too large for the broker; the dead letter points here (dlq_payload_uri). */
  deadLetters: 'keel-dead-letters',
} as const;
