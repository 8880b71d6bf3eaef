/**
 * The staging thread's work for BENCH_STAGING_RECORDS (default 200,000) Adult records in events of 1,000, in this
 * thread and without the stack: prepare the events fetch by fetch (decode, check, staged text), then encode their cuts
 * of 100,000 rows from the kept rows, as ingestion's staging thread does; the first round warms up. Prints µs per
 * record; with BENCH_STAGING_PROFILE=FILE also writes a CPU profile of the timed rounds (only them) and prints its
 * self time by function:
 *
 *   npx node -r @swc-node/register tools/bench/ingest/staging-profile.ts
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { DataRecordsV1, datasetSchema, encodeCloudEventHeaders } from '@keel/contracts';
import { DEFAULT_RECORD_LIMITS } from '@keel/messaging';
import { fixtureRecords, pipelineSpecFixture } from '@keel/testing';
import { datasetParquet } from '../../../apps/ingestion/src/datasets/dataset-parquet';
import { prepareRecords, type RecordToPrepare } from '../../../apps/ingestion/src/records/prepare-records.task';
import { stagedTable } from '../../../apps/ingestion/src/staging/cut-encode.task';

const N = Number(process.env.BENCH_STAGING_RECORDS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_STAGING_ROUNDS ?? 3);
const PROFILE = process.env.BENCH_STAGING_PROFILE;
const EVENT = 1_000;
const FETCH_EVENTS = 6;
const CUT_ROWS = 100_000;
const spec = pipelineSpecFixture('adult-income', { id: 'bench-staging' });
const base = fixtureRecords('adult', { count: 10_000, numeric: spec });
const schema = datasetSchema(spec).map(({ name, type }) => ({ name, type }));

function fetches(round: number): { values: Buffer; records: RecordToPrepare[] }[] {
  const out: { values: Buffer; records: RecordToPrepare[] }[] = [];
  let pending: Buffer[] = [];
  let records: RecordToPrepare[] = [];
  let end = 0;
  for (let s = 0, e = 0; s < N; s += EVENT, e++) {
    const rows = Array.from({ length: EVENT }, (_, i) => ({
      ...base[(s + i) % base.length],
      fnlwgt: round * N + s + i,
    }));
    const value = Buffer.from(JSON.stringify({ pipelineId: spec.id, source: 'bench', records: rows }));
    const headers = encodeCloudEventHeaders({
      id: `e-${round}-${e}`,
      source: '/upstream/bench',
      type: DataRecordsV1.topic,
      specversion: '1.0',
      time: new Date().toISOString(),
    });
    end += value.length;
    pending.push(value);
    records.push({ topic: DataRecordsV1.topic, partition: 0, offset: String(e), headers, end });
    if (records.length === FETCH_EVENTS) {
      out.push({ values: Buffer.concat(pending), records });
      pending = [];
      records = [];
      end = 0;
    }
  }
  if (records.length > 0) out.push({ values: Buffer.concat(pending), records });
  return out;
}

async function main(): Promise<void> {
  const inputs = Array.from({ length: ROUNDS }, (_, round) => fetches(round));
  const session = new Session();
  const cpuMicros: number[] = [];
  let prepareMs = 0;
  let cutMs = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const input = inputs[round];
    const cpuBefore = process.cpuUsage();
    if (round === 1 && PROFILE) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
    let started = performance.now();
    const texts: string[] = [];
    for (const fetch of input) {
      const answers = prepareRecords({ ...fetch, specs: [[spec.id, spec]], limits: DEFAULT_RECORD_LIMITS });
      for (const answer of answers) texts.push(answer!.prepared.rowsJson);
    }
    if (round > 0) prepareMs += performance.now() - started;
    started = performance.now();
    for (let at = 0; at < texts.length; at += CUT_ROWS / EVENT) {
      const table = stagedTable(
        schema,
        texts.slice(at, at + CUT_ROWS / EVENT).map((rowsJson) => ({ rowsJson })),
      );
      datasetParquet(spec, table);
    }
    if (round > 0) cutMs += performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    if (round > 0) cpuMicros.push((cpu.user + cpu.system) / N);
  }
  if (PROFILE) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(PROFILE, JSON.stringify(profile));
  }
  const per = (ms: number) => ((ms * 1000) / (N * (ROUNDS - 1))).toFixed(2);
  console.log(
    `µs per record: prepare ${per(prepareMs)}, cut ${per(cutMs)}, total ${per(prepareMs + cutMs)}; ` +
      `process CPU by round ${cpuMicros.map((micros) => micros.toFixed(2)).join(' / ')}`,
  );
}

void main();
