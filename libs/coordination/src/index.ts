export { isDuplicateKey, type KeyedDocument, type KeyedTable, MemoryKeyedTable, mongoKeyedTable } from './keyed-table';
export { type Lease, LeaseLostError, Leases, type LeaseScope, type LeasesOptions, withLease } from './leases';
export {
  type Versioned,
  VersionConflictError,
  VersionedDocuments,
  type VersionedDocumentsOptions,
} from './versioned-documents';
