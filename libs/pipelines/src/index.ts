export { InvalidPipelineSpecError, NotAModelPipelineError, UnknownPipelineError } from './errors';
export {
  modelPipelineOf,
  parsePipelineSpec,
  parseSpecDocument,
  PipelineStore,
  readSpecDocument,
  type SpecReadOptions,
  type StoredPipelineSpec,
  validateSpecDocument,
} from './pipeline-store';
export {
  memoryOnlineViewTables,
  ONLINE_VIEW_TOMBSTONE_RETENTION_MS,
  ONLINE_VIEW_TOMBSTONES_PER_SWEEP,
  onlineViewId,
  type OnlineViewDefinition,
  type OnlineViewRecord,
  OnlineViewStore,
  type OnlineViewTables,
  viewForUnhashedJoin,
} from './online-views';
