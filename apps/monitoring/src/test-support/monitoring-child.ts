import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

/** One run of monitoring in a child process: its own instance name (consumer groups) and database. */
export class MonitoringProcess {
  private child?: ChildProcess;
  url = '';

  constructor(
    readonly name: string,
    readonly database: string,
    private readonly env: Record<string, string>,
  ) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, ['-r', '@swc-node/register', join(__dirname, 'monitoring-process.ts')], {
      env: { ...process.env, ...this.env, MONITORING_TEST_NAME: this.name, MONITORING_TEST_DATABASE: this.database },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.child = child;
    this.url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        if (process.env.TEST_LOG_LEVEL) process.stdout.write(chunk);
        out += chunk.toString();
        const ready = /ready (\S+)/.exec(out);
        if (ready) resolve(ready[1]);
      });
      child.once('exit', (code) => reject(new Error(`monitoring exited with ${code} before it was ready`)));
    });
  }

  /** kill -9: no shutdown hook runs, nothing is flushed. */
  async kill(): Promise<void> {
    const child = this.child!;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  /** Rows this process applied since it started (its /metrics counter). */
  async rowsApplied(): Promise<number> {
    const metrics = await (await fetch(`${this.url}/metrics`)).text();
    return Number(/^keel_monitoring_prediction_rows_total(?:\{[^}]*\})? (\S+)$/m.exec(metrics)?.[1] ?? 0);
  }

  /** Partitions of the prediction log this process owns (its /metrics gauge). */
  async ownedPartitions(): Promise<number> {
    const metrics = await (await fetch(`${this.url}/metrics`)).text();
    return Number(/^keel_monitoring_prediction_partitions_owned(?:\{[^}]*\})? (\S+)$/m.exec(metrics)?.[1] ?? 0);
  }

  async count(pipelineId: string): Promise<number> {
    const response = await fetch(`${this.url}/api/v1/pipelines/${pipelineId}/predictions/count`);
    return ((await response.json()) as { count: number }).count;
  }
}
