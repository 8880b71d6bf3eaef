export { InvalidPipelineSpecError, UnknownPipelineError } from './errors';
export { parsePipelineSpec, PipelineStore, type StoredPipelineSpec } from './pipeline-store';
export {
  onlineViewId,
  type OnlineViewDefinition,
  type OnlineViewRecord,
  OnlineViewStore,
  viewForUnhashedJoin,
} from './online-views';
