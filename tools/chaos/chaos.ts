/**
 * `npm run chaos`: the Adult pipeline runs, records arrive as an upstream system publishes them and inference
 * traffic flows, while each service and each server is killed with SIGKILL and brought back, and MinIO and the
 * database are taken away for a minute. After each fault the run must complete with every record in exactly one
 * dataset version, every effect once, no failed inference request except while serving itself was down, and traces
 * reaching Jaeger again. Prints a table and exits non-zero when a fault broke one of those promises.
 * docs/reliability.md describes the run, its settings and the latest table.
 */
import { telemetry } from './telemetry';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type PipelineSpecV1, type Scalar, WellKnownAlias } from '@keel/contracts';
import { createKafka, createProducer, silentLogger } from '@keel/messaging';
import { KeelAttr, withSpan } from '@keel/telemetry';
import {
  columnTensors,
  fetchTrace,
  fixtureCsv,
  fixtureRecords,
  InferenceClient,
  pipelineSpecFixture,
  publishUpstreamRecords,
  serviceOf,
  stackEndpoints,
  uniquePipelineId,
} from '@keel/testing';
import { type Producer } from 'kafkajs';
import { applySpec, endpoints } from '../demo/pipeline-client';
import { servicePid, startService } from '../services/services';
import { down, select, up } from '../stack/lifecycle';
import { killServer, pauseServer } from '../stack/faults';
import { runRoot } from '../stack/paths';
import { killProcess } from '../stack/processes';
import { servers, type ServerDefinition } from '../stack/servers';
import { accountEffects, added, type EffectAccount } from './effect-accounting';
import { describeFault, type Fault, type FaultMoment, selectFaults } from './fault-plan';
import { InferenceTraffic } from './inference-traffic';
import { failedDuringOutage } from './outage-attribution';
import { type PipelineEffects, PipelineObserver, unhealthyServices } from './pipeline-observer';
import { ensureServices, restoreServices } from './service-guard';
import { failed, type FaultResult, formatTable } from './report';

/** The column that carries each published record's id into the dataset versions (a non-feature column). */
const RECORD_ID_COLUMN = 'chaos_record_id';

interface ChaosConfig {
  faults: readonly Fault[];
  outageMs: number;
  outageMode: 'pause' | 'stop';
  firstRoundRows: number;
  roundRows: number;
  roundTimeoutMs: number;
  callers: number;
  callerPauseMs: number;
}

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number (got "${text}")`);
  return value;
}

function readConfig(env: NodeJS.ProcessEnv): ChaosConfig {
  const outageMode = env.CHAOS_OUTAGE_MODE ?? 'pause';
  if (outageMode !== 'pause' && outageMode !== 'stop') {
    throw new Error(`CHAOS_OUTAGE_MODE must be pause or stop (got "${outageMode}")`);
  }
  return {
    faults: selectFaults(env.CHAOS_FAULTS, env.CHAOS_FAST === '1'),
    outageMs: positive(env, 'CHAOS_OUTAGE_SECONDS', 60) * 1000,
    outageMode,
    firstRoundRows: positive(env, 'CHAOS_FIRST_ROUND_ROWS', 3000),
    roundRows: positive(env, 'CHAOS_ROUND_ROWS', 1500),
    roundTimeoutMs: positive(env, 'CHAOS_ROUND_TIMEOUT_SECONDS', 300) * 1000,
    callers: positive(env, 'CHAOS_CALLERS', 2),
    callerPauseMs: positive(env, 'CHAOS_CALLER_PAUSE_MS', 100),
  };
}

function log(message: string): void {
  process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function server(name: string): ServerDefinition {
  return select([name])[0];
}

/** Polls `read` until it reaches `target` or stops moving for `stableMs`; returns the last value read. */
async function settleOn(
  read: () => Promise<number>,
  target: number,
  signal: AbortSignal,
  stableMs = 20_000,
  maxMs = 90_000,
): Promise<number> {
  const deadline = Date.now() + maxMs;
  let last = -1;
  let lastChange = Date.now();
  while (Date.now() < deadline) {
    const value = await read().catch(() => last);
    if (value >= target) return value;
    if (value !== last) {
      last = value;
      lastChange = Date.now();
    } else if (Date.now() - lastChange >= stableMs) {
      return value;
    }
    await sleep(1_000, undefined, { signal });
  }
  return last;
}

/** What a strike did, for the recovery clock and for telling expected inference failures from the others. */
interface Strike {
  /** The moment the fault ended: the killed process was started again, or the paused server resumed. */
  endedAt: number;
  servingDown?: [number, number];
  notes: string[];
}

class ChaosRun {
  private readonly pipelineId = uniquePipelineId('chaos');
  private readonly spec: PipelineSpecV1;
  private readonly observer: PipelineObserver;
  private readonly traffic: InferenceTraffic;
  private readonly readiness = new InferenceClient(endpoints.servingGrpc);
  private readonly producer: Producer;
  private readonly published: string[] = [];
  private nextRow = 0;
  private readonly servingDown: [number, number][] = [];
  /** Dataset versions a timed-out round left behind: later rounds do not wait for them again. */
  private readonly givenUp = new Set<string>();
  private previous: EffectAccount = { recordsLost: 0, duplicates: {}, lost: {} };
  private trafficSince = 0;
  /** Aborted by SIGINT or SIGTERM: every wait ends, a paused server resumes, and the run restores the stack. */
  readonly interruption = new AbortController();
  readonly results: FaultResult[] = [];

  constructor(private readonly config: ChaosConfig) {
    this.spec = pipelineSpecFixture('adult-income', {
      id: this.pipelineId,
      // A protected attribute that is no feature is kept in every dataset version and used by nothing else: the one
      // way a spec carries an extra column, here each record's id.
      protectedAttributes: ['sex', 'race', RECORD_ID_COLUMN],
    });
    this.observer = new PipelineObserver(this.pipelineId, RECORD_ID_COLUMN);
    const testRows = fixtureCsv('adult').rows.findIndex((row) => row[row.length - 1] === 'test');
    this.traffic = new InferenceTraffic({
      modelName: this.pipelineId,
      inputs: columnTensors(this.spec, fixtureRecords('adult', { count: 4, from: testRows, numeric: this.spec })),
      rows: 4,
      requestIdPrefix: this.pipelineId,
    });
    this.producer = createProducer(
      createKafka({ clientId: 'keel-chaos', brokers: stackEndpoints.kafkaBrokers, logger: silentLogger }),
    );
  }

  async run(): Promise<void> {
    await this.producer.connect();
    await applySpec(JSON.stringify(this.spec), this.pipelineId);
    log(`pipeline ${this.pipelineId} applied; first round of ${this.config.firstRoundRows} records`);
    const roundStart = Date.now();
    const ids = await this.publishRound(this.config.firstRoundRows, 'first round');
    const first = await this.waitRecovered(ids, Math.max(this.config.roundTimeoutMs, 600_000));
    if (first.recoveredAt === undefined) throw new Error(`the first round did not complete: ${first.notes.join('; ')}`);
    log(`first round through in ${((Date.now() - roundStart) / 1000).toFixed(0)} s; inference traffic starts`);
    this.startTraffic();
    await this.wait(5_000);
    const baseline = await this.check(ids, roundStart, []);
    this.results.push({ ...baseline, fault: 'none (baseline round)', tracesResumed: await this.tracesResume() });
    for (const fault of this.config.faults) {
      try {
        await this.runFault(fault);
      } catch (error) {
        if (this.interruption.signal.aborted) throw error;
        log(`fault ${fault.id} broke the run's own steps: ${errorText(error)}`);
        this.results.push({
          fault: describeFault(fault, this.config.outageMs / 1000, this.config.outageMode),
          completed: false,
          recordsLost: 0,
          duplicates: {},
          lostEffects: {},
          failedRequests: 0,
          failedWhileServingDown: 0,
          failureCodes: {},
          notes: [`the run's own steps failed: ${errorText(error)}`],
        });
      }
    }
    await this.finalCheck();
  }

  private startTraffic(): void {
    this.trafficSince = Date.now();
    this.traffic.startClosedLoop(this.config.callers, this.config.callerPauseMs);
  }

  /** Records of the Adult training split, in file order, each with its record id; the next `count` of them. */
  private takeRecords(count: number): Record<string, Scalar>[] {
    const trainingRows = fixtureCsv('adult').rows.filter((row) => row[row.length - 1] === 'train').length;
    if (this.nextRow + count > trainingRows) {
      throw new Error(`the run needs more than the ${trainingRows} Adult training rows; lower CHAOS_ROUND_ROWS`);
    }
    const from = this.nextRow;
    this.nextRow += count;
    return fixtureRecords('adult', { count, from, numeric: this.spec }).map((record, i) => ({
      ...record,
      [RECORD_ID_COLUMN]: `r${from + i}`,
    }));
  }

  /** Publishes a round as an upstream system would, in batches of 500; `midway` runs between the two halves. */
  private async publishRound(count: number, name: string, midway?: () => Promise<void>): Promise<string[]> {
    const records = this.takeRecords(count);
    const ids = records.map((record) => String(record[RECORD_ID_COLUMN]));
    const half = Math.ceil(records.length / 2);
    await withSpan(`chaos round: ${name}`, { [KeelAttr.PIPELINE_ID]: this.pipelineId }, async () => {
      await publishUpstreamRecords(this.producer, this.pipelineId, records.slice(0, half), {
        source: 'chaos',
        batchSize: 500,
      });
      this.published.push(...ids.slice(0, half));
      await midway?.();
      await publishUpstreamRecords(this.producer, this.pipelineId, records.slice(half), {
        source: 'chaos',
        batchSize: 500,
      });
      this.published.push(...ids.slice(half));
    });
    return ids;
  }

  private async stageCount(moment: FaultMoment): Promise<number> {
    switch (moment) {
      case 'dataset-cut':
        return (await this.observer.datasets()).length;
      case 'validated':
        return (await this.observer.reports()).length;
      case 'features-built':
        return (await this.observer.featureSets()).length;
      case 'trained':
        return (await this.observer.trainingRuns()).length;
      case 'registered':
        return (await this.observer.versions()).length;
      default:
        return 0;
    }
  }

  /** Waits until the round's work reaches `moment` (at most 120 s); false when it never did. */
  private async reach(moment: FaultMoment, before: number): Promise<boolean> {
    if (moment === 'published') {
      await this.wait(1_000);
      return true;
    }
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if ((await this.stageCount(moment).catch(() => before)) > before) return true;
      await this.wait(200);
    }
    return false;
  }

  private async strike(fault: Fault): Promise<Strike> {
    const notes: string[] = [];
    switch (fault.kind) {
      case 'kill-service': {
        const pid = servicePid(fault.service);
        if (pid === undefined) throw new Error(`${fault.service} is not running`);
        const killedAt = Date.now();
        await killProcess(pid);
        log(`${fault.service} killed (SIGKILL, pid ${pid}); starting it again`);
        const endedAt = Date.now();
        await startService(fault.service).catch((error: unknown) => notes.push(errorText(error)));
        const strike: Strike = { endedAt, notes };
        if (fault.service === 'serving') {
          strike.servingDown = [killedAt, Date.now()];
          this.servingDown.push(strike.servingDown);
        }
        return strike;
      }
      case 'kill-server': {
        await killServer(server(fault.server));
        const endedAt = Date.now();
        await up([server(fault.server)]).catch((error: unknown) => notes.push(errorText(error)));
        return { endedAt, notes };
      }
      case 'outage': {
        const target = server(fault.server);
        if (this.config.outageMode === 'pause') {
          await pauseServer(target, this.config.outageMs, this.interruption.signal);
          return { endedAt: Date.now(), notes };
        }
        await down([target]);
        let endedAt = Date.now();
        try {
          await this.wait(this.config.outageMs);
        } finally {
          endedAt = Date.now();
          await up([target]).catch((error: unknown) => notes.push(errorText(error)));
        }
        return { endedAt, notes };
      }
    }
  }

  /** Sleeps, unless the run is interrupted: then it throws at once. */
  private wait(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.interruption.signal });
  }

  private async runFault(fault: Fault): Promise<void> {
    const name = describeFault(fault, this.config.outageMs / 1000, this.config.outageMode);
    log(`fault ${fault.id}: ${name}, at ${fault.at}`);
    const roundStart = Date.now();
    const before = await this.stageCount(fault.at).catch(() => 0);
    let strike: Strike | undefined;
    const notes: string[] = [];
    const strikeNow = async () => {
      try {
        strike = await this.strike(fault);
      } catch (error) {
        notes.push(`fault not injected as planned: ${errorText(error)}`);
        strike = { endedAt: Date.now(), notes: [] };
      }
    };
    const ids = await this.publishRound(
      this.config.roundRows,
      fault.id,
      fault.at === 'mid-publish' ? strikeNow : undefined,
    );
    if (fault.at !== 'mid-publish') {
      if (!(await this.reach(fault.at, before))) notes.push(`the round never reached "${fault.at}"; struck anyway`);
      await strikeNow();
    }
    const struck = strike!;
    notes.push(...struck.notes);
    const recovery = await this.waitRecovered(ids, this.config.roundTimeoutMs);
    notes.push(...recovery.notes);
    const tracesResumed = await this.tracesResume();
    const result = await this.check(ids, roundStart, notes);
    this.results.push({
      ...result,
      fault: name,
      recoveryMs: recovery.recoveredAt === undefined ? undefined : recovery.recoveredAt - struck.endedAt,
      completed: result.completed && recovery.recoveredAt !== undefined,
      tracesResumed,
    });
    log(
      `fault ${fault.id} done: ${recovery.recoveredAt === undefined ? 'NOT recovered' : `recovered in ${((recovery.recoveredAt - struck.endedAt) / 1000).toFixed(1)} s`}`,
    );
  }

  /**
   * Waits until the system is whole again: every service healthy, the round's records in dataset versions, every
   * dataset version through validation to a model version (or rejected), serving ready on the champion and
   * answering.
   */
  private async waitRecovered(
    ids: readonly string[],
    timeoutMs: number,
  ): Promise<{ recoveredAt?: number; notes: string[] }> {
    const deadline = Date.now() + timeoutMs;
    let waitingFor = 'nothing checked yet';
    let pending: string[] = [];
    while (Date.now() < deadline) {
      try {
        const unhealthy = await unhealthyServices();
        if (unhealthy.length > 0) {
          waitingFor = `/health of ${unhealthy.join(', ')}`;
        } else {
          const datasets = await this.observer.datasets();
          const rows = await this.observer.rowsPerRecord(datasets);
          const missing = ids.filter((id) => !rows.has(id)).length;
          const [reports, versions] = await Promise.all([this.observer.reports(), this.observer.versions()]);
          const versioned = new Set(versions.map((v) => v.lineage.datasetVersionId));
          pending = datasets
            .filter((d) => !this.givenUp.has(d.datasetVersionId))
            .filter((d) => {
              const report = reports.find((r) => r.datasetVersionId === d.datasetVersionId);
              return report === undefined || (report.passed && !versioned.has(d.datasetVersionId));
            })
            .map((d) => d.datasetVersionId);
          const champion = versions.find((v) => v.aliases.includes(WellKnownAlias.CHAMPION));
          if (missing > 0) waitingFor = `${missing} of the round's records in no dataset version`;
          else if (pending.length > 0) waitingFor = `dataset version(s) ${pending.join(', ')} not through the pipeline`;
          else if (!champion) waitingFor = 'a champion';
          else if (
            !(await this.readiness.modelReady({ name: this.pipelineId, version: String(champion.version) })).ready
          ) {
            waitingFor = `serving to load v${champion.version}`;
          } else if (!(await this.traffic.send()).ok) waitingFor = 'an answered ModelInfer';
          else return { recoveredAt: Date.now(), notes: [] };
        }
      } catch (error) {
        waitingFor = errorText(error);
      }
      await this.wait(1_000);
    }
    for (const id of pending) this.givenUp.add(id);
    return { notes: [`not whole after ${timeoutMs / 1000} s; still waiting for ${waitingFor}`] };
  }

  /** A trace started now reaches Jaeger with serving's spans (within 60 s). */
  private async tracesResume(): Promise<boolean> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const probe = await withSpan('chaos trace probe', { [KeelAttr.MODEL_NAME]: this.pipelineId }, async (span) => ({
        traceId: span.spanContext().traceId,
        answered: (await this.traffic.send()).ok,
      }));
      if (!probe.answered) {
        await this.wait(2_000);
        continue;
      }
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const trace = await fetchTrace(probe.traceId).catch(() => undefined);
        if (trace?.spans.some((span) => serviceOf(trace, span) === 'serving')) return true;
        await this.wait(1_000);
      }
    }
    return false;
  }

  /**
   * Pauses the traffic, waits until serving's prediction logs and the drift windows have caught up, reads every
   * effect back and compares it with what was published and answered; the traffic then resumes.
   */
  private async check(
    ids: readonly string[],
    since: number,
    notes: string[],
    countLogs = false,
  ): Promise<Omit<FaultResult, 'fault' | 'recoveryMs' | 'tracesResumed'>> {
    const until = Date.now();
    await this.traffic.stop();
    const answered = this.traffic.answeredRows();
    // Predictions reach monitoring through Kafka; the windows have caught up when they hold every answered row but
    // those that may wait in a window still open (at most windowRows - 1 per model version).
    const openWindowRows = (this.spec.monitoring.windowRows - 1) * (await this.modelVersionCount());
    await settleOn(() => this.observer.windowRows(), answered - openWindowRows, this.interruption.signal);
    if (countLogs) await settleOn(() => this.observer.predictionsLogged(), answered, this.interruption.signal);
    let effects: PipelineEffects | undefined;
    try {
      effects = await this.readEffects(notes, countLogs);
    } finally {
      this.startTraffic();
    }
    const failures = this.traffic.outcomes.filter((o) => !o.ok && o.endedAt > since && o.endedAt <= until);
    const whileServingDown = failures.filter((o) => failedDuringOutage(o, this.servingDown));
    const codes: Record<string, number> = {};
    for (const failure of failures) codes[failure.code!] = (codes[failure.code!] ?? 0) + 1;
    // A failure outside serving's down windows: when it came after serving was back, and what the client was told.
    for (const failure of failures.filter((o) => !whileServingDown.includes(o)).slice(0, 10)) {
      const backAt = Math.max(0, ...this.servingDown.map(([, to]) => to).filter((to) => to <= failure.endedAt));
      const after = backAt > 0 ? `${failure.endedAt - backAt} ms after serving was back` : 'not after a serving kill';
      notes.push(`failed ${failure.code} (${failure.detail ?? 'no details'}) ${after}`);
    }
    const account = effects
      ? accountEffects(effects, this.published, answered, this.traffic.uncertainRows(), openWindowRows)
      : this.previous;
    const result = {
      completed: effects !== undefined,
      recordsLost: effects ? ids.filter((id) => !effects.rowsPerRecord.has(id)).length : 0,
      duplicates: added(account.duplicates, this.previous.duplicates),
      lostEffects: added(account.lost, this.previous.lost),
      failedRequests: failures.length,
      failedWhileServingDown: whileServingDown.length,
      failureCodes: codes,
      notes,
    };
    this.previous = account;
    return result;
  }

  /** Every effect, read back; a read that fails (a slow scan, a server still catching up) is tried three times. */
  /** Model versions registered for the run's pipeline so far (each may have a window open); 1 while unknown. */
  private async modelVersionCount(): Promise<number> {
    const versions = await this.observer.versions().catch(() => []);
    return Math.max(1, versions.length);
  }

  private async readEffects(notes: string[], countLogs: boolean): Promise<PipelineEffects | undefined> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        return await this.observer.effects({ countLogs });
      } catch (error) {
        lastError = error;
        await this.wait(5_000);
      }
    }
    notes.push(`effects could not be read: ${errorText(lastError)}`);
    return undefined;
  }

  /** After the last fault: every record of every round, every effect once, over the whole run. */
  private async finalCheck(): Promise<void> {
    const recovery = await this.waitRecovered(this.published, this.config.roundTimeoutMs);
    // Totals over the run, not what the last fault added.
    this.previous = { recordsLost: 0, duplicates: {}, lost: {} };
    const result = await this.check(this.published, this.trafficSince, recovery.notes, true);
    await this.traffic.stop();
    this.results.push({
      ...result,
      fault: 'end of run (all rounds)',
      completed: result.completed && recovery.recoveredAt !== undefined,
      failedRequests: this.traffic.outcomes.filter((o) => !o.ok).length,
      failedWhileServingDown: this.traffic.outcomes.filter((o) => failedDuringOutage(o, this.servingDown)).length,
    });
  }

  async close(): Promise<void> {
    await this.traffic.stop().catch(() => undefined);
    this.traffic.close();
    this.readiness.close();
    await this.observer.close().catch(() => undefined);
    await this.producer.disconnect().catch(() => undefined);
  }

  get id(): string {
    return this.pipelineId;
  }
}

async function main(): Promise<void> {
  const config = readConfig(process.env);
  log(`faults: ${config.faults.map((f) => f.id).join(', ')}; outages ${config.outageMode} ${config.outageMs / 1000} s`);
  await up(servers);
  const found = await ensureServices(log);
  const run = new ChaosRun(config);
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping the run and restoring the stack`);
    run.interruption.abort();
    process.exitCode = 130;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let failure: unknown;
  try {
    await run.run();
  } catch (error) {
    failure = error;
  } finally {
    await run.close();
    await up(servers).catch((error: unknown) => log(`stack not fully up again: ${errorText(error)}`));
    await restoreServices(found);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  process.stdout.write(`\nchaos run on pipeline ${run.id}\n\n${formatTable(run.results)}\n`);
  const reportDir = join(runRoot, 'chaos');
  mkdirSync(reportDir, { recursive: true });
  const reportFile = join(reportDir, `${run.id}.json`);
  writeFileSync(reportFile, JSON.stringify({ pipelineId: run.id, config, results: run.results }, null, 2) + '\n');
  process.stdout.write(`\n(JSON: ${reportFile})\n`);
  if (failure !== undefined) {
    process.stderr.write(`chaos run stopped: ${errorText(failure)}\n`);
    process.exitCode = 1;
  } else if (run.results.some(failed)) {
    process.exitCode = 1;
  }
  await telemetry.shutdown();
}

main().catch((error: unknown) => {
  process.stderr.write(`npm run chaos failed: ${errorText(error)}\n`);
  process.exitCode = 1;
});
