export { EventHandlerHarness, type EventHandlerHarnessOptions, type RawDelivery } from './event-handler-harness';
export {
  datasetIngestedData,
  datasetValidatedData,
  featureTableFixture,
  FIXTURE_DATASETS,
  type FixtureCsv,
  type FixtureDataset,
  type FixtureFeatureTable,
  type FixturePipeline,
  type FixtureRows,
  fixtureCsv,
  fixtureCsvText,
  fixtureRecords,
  fixtureTable,
  joiningPipelineFixture,
  pipelineSpecFixture,
  pipelineSpecYaml,
  publishUpstreamRecords,
  repoRoot,
  uniquePipelineId,
} from './fixtures';
export { InMemoryObjectStore, InMemoryPipelineStore, type RecordedWrite } from './in-memory-stores';
export { columnTensors, InferenceClient, type InferInput, SERVING_GRPC_ADDRESS } from './inference-client';
export { fetchServices, fetchTrace, findTraces, type JaegerSpan, type JaegerTrace, serviceOf } from './jaeger-client';
export { eventually, stackEndpoints, uniqueName } from './local-stack';
export { asContractEvent, type RawRecord, type RecordedEvent, recordedEvent } from './recorded-event';
export {
  mongoUrlForDatabase,
  type ServiceUnderTest,
  type ServiceUnderTestOptions,
  startServiceUnderTest,
  telemetryStub,
} from './service-under-test';
export {
  stackKafka,
  startGroupAtTopicEnd,
  TopicRecorder,
  type TopicRecorderOptions,
  type WaitOptions,
} from './topic-recorder';
export { binaryTestPackage } from './test-packages';
