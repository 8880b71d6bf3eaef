/**
 * Run as a separate process by messaging.int.spec.ts: starts a span, publishes one event inside it, prints the
 * trace id and exits, so the test can check that a consumer in another process continues the same trace.
 *
 *   node -r @swc-node/register publish-traced-event.ts <topic> <eventId>
 */
import { startTelemetry } from '@keel/telemetry';
const telemetry = startTelemetry('keel-test-producer');

import { trace } from '@opentelemetry/api';
import { defineEvent } from '@keel/contracts';
import { z } from 'zod';
import { createKafka, createProducer } from '../kafka-client';
import { EventPublisher } from '../event-publisher';
import { silentLogger } from '../logger';

async function main(topic: string, eventId: string): Promise<void> {
  const contract = defineEvent({
    topic,
    description: 'trace propagation test event',
    schema: z.object({ name: z.string() }),
    key: (data) => data.name,
    maxBytes: 1024,
  });
  const kafka = createKafka({
    clientId: 'keel-test-producer',
    brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
    logger: silentLogger,
  });
  const producer = createProducer(kafka);
  await producer.connect();
  const tracer = trace.getTracer('keel-test-producer');
  const traceId = await tracer.startActiveSpan('upstream work', async (span) => {
    await new EventPublisher(producer, '/keel/test-producer').publish(contract, { name: 'traced' }, { id: eventId });
    span.end();
    return span.spanContext().traceId;
  });
  await producer.disconnect();
  await telemetry.forceFlush();
  await telemetry.shutdown();
  process.stdout.write(`${traceId}\n`);
}

main(process.argv[2], process.argv[3]).catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exitCode = 1;
});
