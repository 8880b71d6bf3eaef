/**
 * `npm run bench:ingest`: how fast data gets into dataset versions, beside what the servers allow, on the local stack
 * (run it under the stack lock), in alternating rounds (BENCH_ROUNDS, default 2):
 * - Kafka: BENCH_INGEST_RECORDS (default 500,000) Adult records published to mlops.data.records.v1 in events of 1,000,
 *   then drained from the same offsets (a) by a bare kafkajs consumer that only parses each value and counts its
 *   records (the ceiling) and (b) by ingestion (in this process, a fresh instance and database each round) until every
 *   record is in a dataset version (checked, staged in MongoDB, cut every 100,000 rows into Parquet in MinIO).
 * - PostgreSQL: a table of BENCH_INGEST_PG_ROWS (default 1,000,000) rows read (a) by `COPY table TO STDOUT` through
 *   the stack's psql, its output counted and discarded, and (b) by a pull of ingestion's postgres source (chunks of
 *   50,000 rows) in a process of its own, which also reports its peak RSS (and the peaks of the pull's first and
 *   second halves); a pull of a quarter of the rows shows whether that peak grows with the table.
 * Writes docs/benchmarks/ingest.md and ingest.json. BENCH_INGEST_ONLY=kafka (or postgres) runs one section and only
 * prints its figures (while iterating; the docs take a full run). BENCH_INGEST_PROFILE=DIR also writes CPU profiles of the first
 * round's ingestion drain and pull into DIR and prints where their time went (self time by function).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataRecordsV1, type Scalar } from '@keel/contracts';
import { createKafka, createProducer, ensureTopics, silentLogger } from '@keel/messaging';
import {
  fixtureRecords,
  mongoUrlForDatabase,
  pipelineSpecFixture,
  publishUpstreamRecords,
  stackEndpoints,
  startGroupAtTopicEnd,
  startServiceUnderTest,
  uniqueName,
  uniquePipelineId,
} from '@keel/testing';
import { type Admin } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { Client } from 'pg';
import { ingestionEnvSchema } from '../../apps/ingestion/src/config';
import { IngestionModule } from '../../apps/ingestion/src/ingestion.module';
import { RECORDS_GROUP } from '../../apps/ingestion/src/records/records-group';
import { postgresBin, postgresEnv } from '../stack/servers';
import { repoRoot } from '../stack/paths';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const RECORDS = Number(process.env.BENCH_INGEST_RECORDS ?? 500_000);
const EVENT_RECORDS = 1_000;
const BATCH_ROWS = 100_000;
const PG_ROWS = Number(process.env.BENCH_INGEST_PG_ROWS ?? 1_000_000);
const CHUNK_ROWS = 50_000;
const POSTGRES_URL = 'postgres://keel@127.0.0.1:5432/keel';
const DRAIN_LIMIT_MS = 5 * 60_000;
const PROFILE_DIR = process.env.BENCH_INGEST_PROFILE;
const ONLY = process.env.BENCH_INGEST_ONLY;
if (ONLY !== undefined && ONLY !== 'kafka' && ONLY !== 'postgres') {
  throw new Error(`BENCH_INGEST_ONLY must be kafka or postgres, not ${JSON.stringify(ONLY)}`);
}
const JSON_PATH = join(repoRoot, 'docs', 'benchmarks', 'ingest.json');
const MD_PATH = join(repoRoot, 'docs', 'benchmarks', 'ingest.md');

function log(message: string): void {
  console.log(`[bench:ingest] ${message}`);
}

/** How long the bench waits for a topic's partitions to have leaders that answer (a topic just created by it). */
const LEADERSHIP_WAIT_MS = 60_000;

/**
 * Waits until every partition of `topic` has a leader that answers a ListOffsets: right after `stack:up` creates the
 * topics, kafkajs's listOffsets can still meet NOT_LEADER_FOR_PARTITION (or LEADER_NOT_AVAILABLE) for a while, which
 * `createTopics({ waitForLeaders })` does not cover.
 */
async function waitForTopicLeadership(admin: Admin, topic: string): Promise<void> {
  const deadline = Date.now() + LEADERSHIP_WAIT_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const partitions = topics[0]?.partitions ?? [];
      if (partitions.length > 0 && partitions.every((partition) => partition.leader >= 0)) {
        await admin.fetchTopicOffsets(topic);
        if (attempt > 1) log(`${topic}: partitions led after ${attempt} attempts`);
        return;
      }
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) throw new Error(`${topic}: partitions without a leader after ${LEADERSHIP_WAIT_MS} ms`);
    await sleep(250);
  }
}

/**
 * `work` again while it fails with an error kafkajs calls retriable (NOT_LEADER_FOR_PARTITION from a listOffsets while
 * a partition's leadership settles, seen once right after `stack:up`), for up to LEADERSHIP_WAIT_MS.
 */
async function retryingRetriable<T>(work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LEADERSHIP_WAIT_MS;
  for (;;) {
    try {
      return await work();
    } catch (error) {
      if ((error as { retriable?: unknown }).retriable !== true || Date.now() > deadline) throw error;
      log(`retrying after ${(error as Error).message}`);
      await sleep(250);
    }
  }
}

/** What every run's databases start with: ingestion's in the Kafka rounds (one a round) and the pulls' (one a pull). */
const BENCH_DATABASE_PREFIX = 'keel_bench_ingest';

/**
 * Drops the bench's databases left on the stack (by this run, or by an earlier one that was stopped): their pipelines
 * and staged batches would otherwise be found again by a later ingestion on the same database.
 */
async function dropBenchDatabases(): Promise<void> {
  const client = new MongoClient(stackEndpoints.mongoUrl);
  await client.connect();
  try {
    const { databases } = await client.db('admin').admin().listDatabases({ nameOnly: true });
    for (const { name } of databases) {
      if (name.startsWith(BENCH_DATABASE_PREFIX)) await client.db(name).dropDatabase();
    }
  } finally {
    await client.close();
  }
}

/** Drops one database, after the service that used it has stopped (so nothing writes to it again). */
async function dropDatabase(database: string): Promise<void> {
  const client = new MongoClient(mongoUrlForDatabase(database));
  await client.connect();
  try {
    await client.db(database).dropDatabase();
  } finally {
    await client.close();
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** The functions with the most self time in a CPU profile, as lines `share  function (file:line)`. */
function topSelfTime(profile: CpuProfile, count = 15): string[] {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const frame = byNode.get(id)!;
    const file = frame.url.replace(/^.*\/(node_modules|apps|libs)\//, '$1/');
    const name = `${frame.functionName || '(anonymous)'} (${file}:${frame.lineNumber + 1})`;
    const micros = profile.timeDeltas[i] ?? 0;
    self.set(name, (self.get(name) ?? 0) + micros);
    total += micros;
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, micros]) => `${((micros / total) * 100).toFixed(1).padStart(5)} %  ${name}`);
}

/** Runs `work` under the inspector's CPU profiler when BENCH_INGEST_PROFILE is set; prints its top self time. */
async function profiled<T>(label: string, work: () => Promise<T>): Promise<T> {
  if (!PROFILE_DIR) return work();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await work();
  } finally {
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
    session.disconnect();
    mkdirSync(PROFILE_DIR, { recursive: true });
    writeFileSync(join(PROFILE_DIR, `${label}.cpuprofile`), JSON.stringify(profile));
    log(`${label}: self time by function\n${topSelfTime(profile).join('\n')}`);
  }
}

/** The bench's records: Adult rows, fnlwgt made unique so that no two cuts hold the same content. */
function benchRecords(spec: ReturnType<typeof pipelineSpecFixture>): Record<string, Scalar>[] {
  const base = fixtureRecords('adult', { count: 10_000, numeric: spec });
  return Array.from({ length: RECORDS }, (_, i) => ({ ...base[i % base.length], fnlwgt: 100_000 + i }));
}

/** A bare kafkajs consumer from the given offsets: parses each of the pipeline's values, counts their records. */
async function drainBare(pipelineId: string, groupId: string): Promise<number> {
  const kafka = createKafka({
    clientId: `bench-ingest-bare`,
    brokers: stackEndpoints.kafkaBrokers,
    logger: silentLogger,
  });
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  await consumer.subscribe({ topic: DataRecordsV1.topic });
  let counted = 0;
  const started = process.hrtime.bigint();
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          if (message.key?.toString() !== pipelineId || !message.value) continue;
          counted += (JSON.parse(message.value.toString()) as { records: unknown[] }).records.length;
        }
        if (counted >= RECORDS) resolve();
      },
    });
  });
  await Promise.race([done, sleep(DRAIN_LIMIT_MS).then(() => Promise.reject(new Error('bare drain timed out')))]);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await consumer.disconnect();
  return seconds;
}

/** Ingestion from the given offsets until every record is in a dataset version; seconds from its start-up's end. */
async function drainIngestion(
  spec: ReturnType<typeof pipelineSpecFixture>,
  name: string,
): Promise<{ seconds: number; versions: number }> {
  const database = `${BENCH_DATABASE_PREFIX}_${name.replace(/\W/g, '_')}`;
  const sut = await startServiceUnderTest({
    service: 'ingestion',
    name,
    database,
    envSchema: ingestionEnvSchema,
    features: [IngestionModule],
    pipelines: [spec],
    env: { LOG_LEVEL: 'warn' },
  });
  const started = process.hrtime.bigint();
  try {
    const datasets = sut.infra.mongo.collection<{ rowCount: number }>('datasets');
    for (;;) {
      const versions = await datasets.find({ pipelineId: spec.id }, { projection: { rowCount: 1 } }).toArray();
      const rows = versions.reduce((sum, version) => sum + version.rowCount, 0);
      if (rows >= RECORDS) {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        log(`versions of ${versions.map((version) => version.rowCount).join(', ')} rows`);
        return { seconds, versions: versions.length };
      }
      if (Number(process.hrtime.bigint() - started) / 1e6 > DRAIN_LIMIT_MS)
        throw new Error(`ingestion stalled at ${rows}`);
      await sleep(100);
    }
  } finally {
    // Stopped first: a service still running (its cut timer, its consumer) could write to the database after a drop.
    await sut.close();
    await dropDatabase(database).catch((error: unknown) => log(`dropping ${database} failed: ${String(error)}`));
  }
}

/** `COPY table TO STDOUT` through psql; the output is counted and dropped. */
function copyOut(table: string): Promise<{ seconds: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const psql = spawn(
      join(postgresBin, 'psql'),
      ['-X', '-q', '-h', '127.0.0.1', '-p', '5432', '-U', 'keel', '-d', 'keel', '-c', `COPY ${table} TO STDOUT`],
      { env: { ...process.env, ...postgresEnv() }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let bytes = 0;
    psql.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
    psql.on('error', reject);
    psql.on('close', (code) =>
      code === 0
        ? resolve({ seconds: Number(process.hrtime.bigint() - started) / 1e9, bytes })
        : reject(new Error(`psql exited ${code}`)),
    );
  });
}

interface PullResult {
  rows: number;
  versions: number;
  seconds: number;
  rowsPerSecond: number;
  /** The pull's CPU in ingestion's process (event loop and worker threads), and its event loop's busy time. */
  cpuSeconds: number;
  eventLoopActiveSeconds: number;
  rssBeforeMiB: number;
  /** The process's maxRSS (start-up included), and the RSS sampled every 50 ms while the pull ran. */
  peakRssMiB: number;
  pullPeakRssMiB: number;
  firstHalfPeakRssMiB: number;
  secondHalfPeakRssMiB: number;
}

/** A pull by ingestion in a child process (tools/bench/ingest/pg-pull-child.ts). */
function pullInChild(table: string, profile?: string): PullResult {
  const out = execFileSync(
    process.execPath,
    [
      ...(profile && PROFILE_DIR
        ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR, '--cpu-prof-name', `${profile}.cpuprofile`]
        : []),
      '--expose-gc',
      '-r',
      '@swc-node/register',
      join(__dirname, 'ingest', 'pg-pull-child.ts'),
      table,
      String(CHUNK_ROWS),
    ],
    { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 * 1024 * 1024 },
  );
  const line = out
    .trim()
    .split('\n')
    .reverse()
    .find((text) => text.startsWith('{'));
  if (!line) throw new Error(`the pull printed no result: ${out.slice(-500)}`);
  return JSON.parse(line) as PullResult;
}

async function createTable(db: Client, table: string, rows: number): Promise<void> {
  await db.query(`DROP TABLE IF EXISTS ${table}`);
  await db.query(
    `CREATE TABLE ${table} (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, x double precision NOT NULL,
     color text NOT NULL, z double precision, y double precision NOT NULL)`,
  );
  await db.query(
    `INSERT INTO ${table} SELECT g, timestamptz '2026-01-01 00:00:00+00' + (g / 10) * interval '1 second', g,
     (ARRAY['red','green','blue','amber'])[1 + g % 4], (g % 1000) / 7.0, g * 0.5 FROM generate_series(1, ${rows}) g`,
  );
  await db.query(`CREATE INDEX ON ${table} (updated_at, id)`);
  await db.query(`VACUUM ANALYZE ${table}`);
}

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  const loadBefore = loadavg()[0];
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();

  // Kafka: publish once, drain from the same offsets in alternating rounds.
  const spec = pipelineSpecFixture('adult-income', {
    id: uniquePipelineId('bench-ingest'),
    ingestion: { batchRows: BATCH_ROWS, flushAfterMs: 1_000 },
  });
  await dropBenchDatabases();
  const kafka = createKafka({ clientId: 'bench-ingest', brokers: stackEndpoints.kafkaBrokers, logger: silentLogger });
  const admin = kafka.admin();
  const producer = createProducer(kafka);
  await admin.connect();
  await producer.connect();
  await ensureTopics(admin);
  await waitForTopicLeadership(admin, DataRecordsV1.topic);
  const groups: string[] = [];
  const names: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    groups.push(uniqueName('bench-ingest-bare'));
    names.push(uniqueName('bench-ingest'));
  }
  for (const group of [...groups, ...names.map((name) => `${name}.${RECORDS_GROUP}`)]) {
    await retryingRetriable(() => startGroupAtTopicEnd(admin, group, [DataRecordsV1.topic]));
  }
  if (ONLY !== 'postgres') {
    const publishStarted = Date.now();
    await publishUpstreamRecords(producer, spec.id, benchRecords(spec), {
      source: 'bench-ingest',
      batchSize: EVENT_RECORDS,
    });
    log(`${RECORDS} records published in ${((Date.now() - publishStarted) / 1000).toFixed(1)} s`);
  }
  await producer.disconnect();
  await admin.disconnect();
  const bare: number[] = [];
  const keel: { seconds: number; versions: number }[] = [];
  for (let round = 0; round < ROUNDS && ONLY !== 'postgres'; round++) {
    bare.push(await drainBare(spec.id, groups[round]));
    log(`round ${round + 1}: bare kafkajs ${(RECORDS / bare[round]).toFixed(0)} records/s`);
    keel.push(
      round === 0
        ? await profiled('kafka-ingestion', () => drainIngestion(spec, names[round]))
        : await drainIngestion(spec, names[round]),
    );
    log(`round ${round + 1}: ingestion ${(RECORDS / keel[round].seconds).toFixed(0)} records/s`);
  }

  if (ONLY === 'kafka') return;

  // PostgreSQL: COPY against a pull of the same table, alternating; then a pull of a quarter of the rows for its RSS.
  const db = new Client({ connectionString: POSTGRES_URL });
  await db.connect();
  const table = 'bench_ingest_rows';
  const smallTable = 'bench_ingest_rows_small';
  const copies: { seconds: number; bytes: number }[] = [];
  const pulls: PullResult[] = [];
  let small: PullResult;
  try {
    await createTable(db, table, PG_ROWS);
    await createTable(db, smallTable, PG_ROWS / 4);
    log(`tables of ${PG_ROWS} and ${PG_ROWS / 4} rows created`);
    for (let round = 0; round < ROUNDS; round++) {
      copies.push(await copyOut(table));
      log(`round ${round + 1}: COPY ${(PG_ROWS / copies[round].seconds).toFixed(0)} rows/s`);
      pulls.push(pullInChild(table, round === 0 ? 'pg-pull' : undefined));
      if (round === 0 && PROFILE_DIR) {
        const profile = JSON.parse(readFileSync(join(PROFILE_DIR, 'pg-pull.cpuprofile'), 'utf8')) as CpuProfile;
        log(`pg-pull (main thread): self time by function\n${topSelfTime(profile).join('\n')}`);
      }
      log(
        `round ${round + 1}: pull ${pulls[round].rowsPerSecond.toFixed(0)} rows/s, peak RSS ${pulls[round].peakRssMiB.toFixed(0)} MiB, ` +
          `CPU ${pulls[round].cpuSeconds.toFixed(2)} s (event loop busy ${pulls[round].eventLoopActiveSeconds.toFixed(2)} s)`,
      );
    }
    small = pullInChild(smallTable);
    log(`pull of ${small.rows} rows: peak RSS ${small.peakRssMiB.toFixed(0)} MiB`);
  } finally {
    await db.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await db.query(`DROP TABLE IF EXISTS ${smallTable}`).catch(() => undefined);
    await db.end();
  }

  const bareRate = median(bare.map((seconds) => RECORDS / seconds));
  const keelRate = median(keel.map((run) => RECORDS / run.seconds));
  const copyRate = median(copies.map((run) => PG_ROWS / run.seconds));
  const pullRate = median(pulls.map((run) => run.rowsPerSecond));
  const result = {
    startedAt,
    commit,
    cpus: cpus().length,
    node: process.version,
    loadBefore,
    loadAfter: loadavg()[0],
    rounds: ROUNDS,
    kafka: {
      records: RECORDS,
      eventRecords: EVENT_RECORDS,
      batchRows: BATCH_ROWS,
      bareSeconds: bare,
      ingestionSeconds: keel.map((run) => run.seconds),
      ingestionVersions: keel.map((run) => run.versions),
      bareRecordsPerSecond: bareRate,
      ingestionRecordsPerSecond: keelRate,
      shareOfCeiling: keelRate / bareRate,
      targets: { shareOfCeiling: 0.5, recordsPerSecond: 50_000 },
      met: keelRate / bareRate >= 0.5 && keelRate >= 50_000,
    },
    postgres: {
      rows: PG_ROWS,
      chunkRows: CHUNK_ROWS,
      copySeconds: copies.map((run) => run.seconds),
      copyBytes: copies[0].bytes,
      pulls,
      copyRowsPerSecond: copyRate,
      pullRowsPerSecond: pullRate,
      shareOfCopy: pullRate / copyRate,
      smallPull: small,
      targets: { shareOfCopy: 0.5 },
      met: pullRate / copyRate >= 0.5,
    },
  };
  // One section's figures are printed above; the docs take a full run.
  if (ONLY === 'postgres') return;
  writeFileSync(JSON_PATH, JSON.stringify(result, null, 2) + '\n');
  writeFileSync(MD_PATH, render(result));
  log(`wrote ${JSON_PATH} and ${MD_PATH}`);
}

const int = (value: number) => Math.round(value).toLocaleString('en-US');
const pct = (value: number) => `${(value * 100).toFixed(0)} %`;

function render(r: {
  startedAt: string;
  commit: string;
  cpus: number;
  loadBefore: number;
  loadAfter: number;
  rounds: number;
  kafka: {
    records: number;
    bareRecordsPerSecond: number;
    ingestionRecordsPerSecond: number;
    shareOfCeiling: number;
    ingestionVersions: number[];
    batchRows: number;
    met: boolean;
  };
  postgres: {
    rows: number;
    chunkRows: number;
    copyRowsPerSecond: number;
    pullRowsPerSecond: number;
    shareOfCopy: number;
    pulls: PullResult[];
    smallPull: PullResult;
    met: boolean;
  };
}): string {
  const { kafka: k, postgres: p } = r;
  const peak = Math.max(...p.pulls.map((pull) => pull.peakRssMiB));
  return [
    '# Ingestion',
    '',
    `\`npm run bench:ingest\`, ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC on commit ${r.commit}, ${r.cpus} cores ` +
      `shared with other sessions (load average ${r.loadBefore.toFixed(1)} before, ${r.loadAfter.toFixed(1)} after), ` +
      `${r.rounds} alternating rounds, medians. JSON: \`docs/benchmarks/ingest.json\`.`,
    '',
    '| path | peer (same run, same data) | ours | peer | ours / peer | target | met |',
    '| --- | --- | ---: | ---: | ---: | --- | --- |',
    `| ${int(k.records)} Kafka records → dataset versions (${k.ingestionVersions.join(' and ')} versions in the ` +
      `rounds, cut every ${int(k.batchRows)} rows) | bare kafkajs consumer ` +
      `draining the same topic (parse + count) | ${int(k.ingestionRecordsPerSecond)} records/s | ` +
      `${int(k.bareRecordsPerSecond)} records/s | ${pct(k.shareOfCeiling)} | ≥ 50 % and ≥ 50,000 records/s | ` +
      `${k.met ? 'yes' : 'no'} |`,
    `| PostgreSQL pull of ${int(p.rows)} rows (chunks of ${int(p.chunkRows)}) → dataset versions | ` +
      `\`COPY ... TO STDOUT\` of the same table (psql) | ${int(p.pullRowsPerSecond)} rows/s | ` +
      `${int(p.copyRowsPerSecond)} rows/s | ${pct(p.shareOfCopy)} | ≥ 50 % of COPY | ${p.met ? 'yes' : 'no'} |`,
    '',
    `Ingestion's RSS while pulling ${int(p.rows)} rows (sampled every 50 ms, its own process): peak ` +
      `${Math.max(...p.pulls.map((pull) => pull.pullPeakRssMiB)).toFixed(0)} MiB (first half of the pull ` +
      `${p.pulls.map((pull) => pull.firstHalfPeakRssMiB.toFixed(0)).join(' / ')}, second half ` +
      `${p.pulls.map((pull) => pull.secondHalfPeakRssMiB.toFixed(0)).join(' / ')} MiB by round), at rest before ` +
      `the pull ${p.pulls[0].rssBeforeMiB.toFixed(0)} MiB, process maxRSS ${peak.toFixed(0)} MiB; pulling ` +
      `${int(p.smallPull.rows)} rows: peak ${p.smallPull.pullPeakRssMiB.toFixed(0)} MiB (maxRSS ` +
      `${p.smallPull.peakRssMiB.toFixed(0)} MiB).`,
    '',
  ].join('\n');
}

main()
  // Nothing of the run's left for a later ingestion on the stack to find (the pulls' database too).
  .finally(() =>
    dropBenchDatabases().catch((error: unknown) => log(`dropping the bench's databases failed: ${String(error)}`)),
  )
  .then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
