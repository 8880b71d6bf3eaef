export { isDuplicateKey, type KeyedDocument, type KeyedTable, MemoryKeyedTable, mongoKeyedTable } from './keyed-table';
export {
  type Lease,
  LeaseLostError,
  Leases,
  LEASES_COLLECTION,
  leasesOn,
  type LeaseScope,
  type LeasesOptions,
  processHolderId,
  withLease,
} from './leases';
export {
  isTombstoneBefore,
  tombstonesBefore,
  type Versioned,
  VersionConflictError,
  VersionedDocuments,
  type VersionedDocumentsOptions,
} from './versioned-documents';
