export { InvalidPipelineSpecError, UnknownPipelineError } from './errors';
export { parsePipelineSpec, PipelineStore, type StoredPipelineSpec } from './pipeline-store';
export { onlineViewId, type OnlineViewRecord, OnlineViewStore } from './online-views';
