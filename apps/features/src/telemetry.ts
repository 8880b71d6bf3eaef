// Imported first by main.ts: tracing must patch http, grpc, kafkajs, mongoose and Nest before they load.
import { startTelemetry } from '@keel/telemetry';

export const telemetry = startTelemetry('features');
