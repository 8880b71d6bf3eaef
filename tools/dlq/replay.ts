/**
 * `npm run dlq:replay [-- --topic <topic>] [--consumer <group>] [--dry-run]`: sends dead letters back to their
 * original topics (docs/operations.md). Reads KAFKA_BROKERS like the services (default: the local stack).
 */
import { parseArgs } from 'node:util';
import { loadConfig, platformEnvSchema } from '@keel/config';
import { createKafka, type MessagingLogger } from '@keel/messaging';
import { type ReplayedLetter, replayDeadLetters } from './dead-letter-replay';

const usage = `usage: npm run dlq:replay -- [--topic <topic or its .dlq>] [--consumer <consumer group>] [--dry-run]`;

const logger: MessagingLogger = {
  info: () => undefined,
  warn: (fields, message) => process.stderr.write(`kafka: ${message} ${JSON.stringify(fields)}\n`),
  error: (fields, message) => process.stderr.write(`kafka: ${message} ${JSON.stringify(fields)}\n`),
};

function line(letter: ReplayedLetter): string {
  const where = `${letter.deadLetterTopic}[${letter.partition}]@${letter.offset}`;
  const what = `${letter.action.padEnd(8)} ${where} -> ${letter.originalTopic} id=${letter.eventId ?? '?'}`;
  const payload = letter.action === 'kept (oversized)' ? `\n    payload: ${letter.payloadUri ?? 'not stored'}` : '';
  return `${what} consumer=${letter.consumer ?? '?'} code=${letter.errorCode ?? '?'} attempts=${letter.attempts ?? '?'}\n    reason: ${letter.reason ?? '?'}${payload}`;
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        topic: { type: 'string' },
        consumer: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        group: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${usage}\n`);
    return 64;
  }
  if (args.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const config = loadConfig(platformEnvSchema.pick({ KAFKA_BROKERS: true }));
  const kafka = createKafka({
    clientId: 'keel-dlq-replay',
    brokers: config.KAFKA_BROKERS.split(',').map((broker) => broker.trim()),
    logger,
  });
  const report = await replayDeadLetters({
    kafka,
    topic: args.topic,
    consumer: args.consumer,
    dryRun: args['dry-run'],
    groupId: args.group,
  });
  for (const letter of report.letters) process.stdout.write(`${line(letter)}\n`);
  const count = (action: ReplayedLetter['action']) => report.letters.filter((l) => l.action === action).length;
  const verb = args['dry-run']
    ? `${count('listed')} to replay (dry run, nothing sent)`
    : `${count('replayed')} replayed`;
  process.stdout.write(
    `${verb}, ${count('skipped (other consumer)')} skipped, ${count('kept (oversized)')} kept (too large to replay), from ${report.topics.length} dead-letter topic(s); group ${report.groupId}\n`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`dlq:replay failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
