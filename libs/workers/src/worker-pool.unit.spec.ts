import { threadId } from 'node:worker_threads';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failTask, spinTask, sumTask } from './test-support/sample-tasks';
import { movableBuffers } from './transfer';
import { WorkerTaskError } from './worker-errors';
import { WorkerPool, workerExecArgv } from './worker-pool';

const spans = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] });
trace.setGlobalTracerProvider(provider);

describe('WorkerPool', () => {
  const pool = new WorkerPool({ threads: 2 });
  afterAll(() => pool.close());
  // A worker's first task compiles the task module's imports (TypeScript, through @swc-node/register): warm both.
  beforeAll(async () => {
    await Promise.all([
      pool.run(sumTask, { values: new Float64Array(0) }),
      pool.run(sumTask, { values: new Float64Array(0) }),
    ]);
    spans.reset();
  }, 120_000);

  it('runs a task on another thread, moving buffers both ways, with progress as span events', async () => {
    // given an input buffer to move
    const values = Float64Array.from([1, 2, 3, 4]);
    // when the task runs
    const result = await pool.run(sumTask, { values }, { transferList: [values.buffer] });
    // then it ran on a worker thread, the input moved away and the result came back
    expect(result.threadId).not.toBe(threadId);
    expect(values.byteLength).toBe(0);
    expect(result.sum).toBe(10);
    expect([...result.doubled]).toEqual([2, 4, 6, 8]);
    await provider.forceFlush();
    const span = spans.getFinishedSpans().find((s) => s.name === 'worker sumTask')!;
    expect(span.attributes['keel.worker.thread_id']).toBe(result.threadId);
    expect(span.events.map((event) => event.attributes)).toEqual([
      { 'keel.worker.stage': 'sum', 'keel.worker.done': 2, 'keel.worker.total': 4 },
      { 'keel.worker.stage': 'sum', 'keel.worker.done': 4, 'keel.worker.total': 4 },
    ]);
  });

  it.each([
    ['non-retryable', { name: 'NonRetryableError', code: 'bad-input', retryable: false }],
    ['storage', { name: 'StorageError', code: 'storage-unavailable', retryable: true }],
    ['plain', { name: 'RangeError', code: undefined, retryable: undefined }],
  ] as const)('a %s error keeps its name, code and retryable flag across the boundary', async (kind, expected) => {
    const error = await pool.run(failTask, kind).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerTaskError);
    expect({
      name: (error as WorkerTaskError).name,
      code: (error as WorkerTaskError).code,
      retryable: (error as WorkerTaskError).retryable,
    }).toEqual(expected);
  });

  it('cancels a running task through its AbortSignal, and keeps working afterwards', async () => {
    const controller = new AbortController();
    const running = pool.run(spinTask, null, { signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
    const values = Float64Array.from([5]);
    expect((await pool.run(sumTask, { values })).sum).toBe(5);
  });
});

describe('movableBuffers', () => {
  it('moves only buffers a view owns whole, never a slice of the shared Buffer pool', () => {
    const owned = Buffer.alloc(64 * 1024);
    const pooled = Buffer.from('small');
    const view = new Float64Array(new ArrayBuffer(80), 8, 2);
    expect(movableBuffers(owned, pooled, view, owned)).toEqual([owned.buffer]);
  });
});

describe('workerExecArgv', () => {
  it("passes on the parent's code loaders and drops options a worker refuses", () => {
    expect(
      workerExecArgv([
        '--max-old-space-size=8192',
        '-r',
        '@swc-node/register',
        '--inspect',
        '--import=tsx',
        '--enable-source-maps',
      ]),
    ).toEqual(['-r', '@swc-node/register', '--import=tsx', '--enable-source-maps']);
    expect(workerExecArgv([])).toEqual(['--require', '@swc-node/register']);
  });
});
