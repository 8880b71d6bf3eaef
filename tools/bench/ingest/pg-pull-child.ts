/**
 * One PostgreSQL pull of `npm run bench:ingest`, in a process of its own so that its peak RSS is ingestion's alone:
 * starts ingestion (in this process, against the stack), applies a pipeline whose postgres source reads TABLE
 * (argv[2]) CHUNK_ROWS (argv[3]) rows a chunk, pulls it once and prints one JSON line (rows, seconds, RSS).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import { DataRecordsV1, PipelineSpecV1 } from '@keel/contracts';
import { startServiceUnderTest, uniquePipelineId } from '@keel/testing';
import { ingestionEnvSchema } from '../../../apps/ingestion/src/config';
import { IngestionModule } from '../../../apps/ingestion/src/ingestion.module';
import { SourcePullsService } from '../../../apps/ingestion/src/sources/source-pulls.service';

const [table, chunkRows] = [process.argv[2], Number(process.argv[3])];
const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://keel@127.0.0.1:5432/keel';
const MIB = 1024 * 1024;
/** A file to write a CPU profile of the event loop during the pull alone to (not ingestion's start-up). */
const PULL_PROFILE = process.env.BENCH_PULL_PROFILE;

async function main(): Promise<void> {
  const spec = PipelineSpecV1.parse({
    apiVersion: 'keel/v1',
    kind: 'Pipeline',
    id: uniquePipelineId('bench-pg'),
    task: 'regression',
    target: { column: 'y' },
    features: [
      { name: 'x', type: 'numeric' },
      { name: 'color', type: 'categorical' },
      { name: 'z', type: 'numeric' },
    ],
    training: { algorithms: ['linear-regression'], primaryMetric: 'rmse' },
    sources: [{ kind: 'postgres', id: 'rows', table, cursor: { column: 'updated_at', key: 'id' }, chunkRows }],
  });
  const sut = await startServiceUnderTest({
    service: 'ingestion',
    database: 'keel_bench_ingest',
    envSchema: ingestionEnvSchema,
    features: [IngestionModule],
    consumers: { records: [DataRecordsV1] },
    env: { POSTGRES_URL, LOG_LEVEL: 'warn' },
  });
  try {
    await sut.infra.pipelines.apply(spec);
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    // RSS every 50 ms while the pull runs: the peak of its first half against its second half says whether memory
    // grows with the rows read (the process's maxRSS also counts start-up).
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(process.memoryUsage().rss), 50);
    // The event loop's garbage collections during the pull: full mark-compacts of its heap cost the most.
    const gc = { major: 0, majorMs: 0, minor: 0, minorMs: 0 };
    const gcObserver = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const { detail } = entry as PerformanceEntry & { detail?: { kind?: number } };
        const major = detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR;
        if (major) {
          gc.major++;
          gc.majorMs += entry.duration;
        } else {
          gc.minor++;
          gc.minorMs += entry.duration;
        }
      }
    });
    gcObserver.observe({ entryTypes: ['gc'] });
    const started = process.hrtime.bigint();
    // Where the pull's time went: the process's CPU (main thread and worker) and its event loop's busy time.
    const cpuBefore = process.cpuUsage();
    const loopBefore = performance.eventLoopUtilization();
    const profiler = PULL_PROFILE ? new Session() : undefined;
    if (profiler) {
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.start');
    }
    const run = await sut.app.get(SourcePullsService).pull(spec.id, 'rows');
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (profiler) {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(PULL_PROFILE!, JSON.stringify(profile));
      profiler.disconnect();
    }
    const cpu = process.cpuUsage(cpuBefore);
    const loop = performance.eventLoopUtilization(loopBefore);
    clearInterval(sampler);
    gcObserver.disconnect();
    const half = Math.floor(samples.length / 2);
    const peakOf = (values: number[]) => Math.max(rssBefore, ...values) / MIB;
    if (run.status !== 'succeeded') throw new Error(`pull ${run.status}: ${run.error}`);
    console.log(
      JSON.stringify({
        rows: run.rowsRead,
        versions: run.datasetVersionIds.length,
        seconds,
        rowsPerSecond: run.rowsRead / seconds,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        eventLoopActiveSeconds: loop.active / 1e3,
        gcMajor: gc.major,
        gcMajorMs: gc.majorMs,
        gcMinor: gc.minor,
        gcMinorMs: gc.minorMs,
        rssBeforeMiB: rssBefore / MIB,
        pullPeakRssMiB: peakOf(samples),
        firstHalfPeakRssMiB: peakOf(samples.slice(0, half)),
        secondHalfPeakRssMiB: peakOf(samples.slice(half)),
        // resourceUsage().maxRSS is the process's peak resident set, in KiB.
        peakRssMiB: process.resourceUsage().maxRSS / 1024,
      }),
    );
    await sut.infra.mongo.collection('datasets').deleteMany({ pipelineId: spec.id });
  } finally {
    await sut.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
