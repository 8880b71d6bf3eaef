/**
 * `npm run bench:loop`: the closed loop on Elec2, as issue 9's acceptance describes it. The first 4,800 rows are
 * published as upstream records and trained on; the remaining rows are sent in time order as ModelInfer calls; each
 * row's true label is published 48 rows (one day of data time) after its prediction, and the labelled row as new data
 * at the same time. The retrain policy in the spec decides when to retrain. In the same run, with our own trainer and
 * under the same label delay, the harness computes two baselines: never retrained, and retrained every week (336
 * rows) on the newest 4,800 labelled rows. It also replays the policy in the harness (its own decision function on
 * the same windows, no lag) to show what the stack run should approach.
 *
 * Flags: `--offline` (baselines and the in-harness replay only, no stack), `--rows N` (serve only the first N rows
 * after the initial 4,800, for a quick check: its loop.md and loop.json go to the temporary directory), `--stack-lock
 * FILE` (take that flock(1) lock for the stack part only). Writes docs/benchmarks/loop.md and loop.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type EventData, LabelReceivedV1, type PipelineSpecV1, type RetrainPolicy } from '@keel/contracts';
import { createKafka, createProducer, EventPublisher, silentLogger } from '@keel/messaging';
import { columnTensors, InferenceClient, publishUpstreamRecords } from '@keel/testing';
import { ensureServices, restoreServices } from '../chaos/service-guard';
import { applySpec, endpoints, waitForChampion, waitForServing } from '../demo/pipeline-client';
import { repoRoot } from '../stack/paths';
import {
  firstRows,
  labelledWindow,
  neverRetrained,
  policyReplay,
  type StrategyResult,
  weeklyRetrained,
} from './loop/baselines';
import { type Elec2Row, elec2Rows, elec2Spec, PROTOCOL } from './loop/elec2';

const args = process.argv.slice(2);
const OFFLINE = args.includes('--offline');
const ROWS_LIMIT = args.includes('--rows') ? Number(args[args.indexOf('--rows') + 1]) : undefined;
/**
 * `--stack-lock FILE` (or BENCH_LOOP_STACK_LOCK): the baselines run first without the stack, then the harness takes
 * this flock(1) lock and runs `npm run stack:up` under it for the stack part only (on a machine that shares its stack).
 */
const STACK_LOCK = args.includes('--stack-lock')
  ? args[args.indexOf('--stack-lock') + 1]
  : process.env.BENCH_LOOP_STACK_LOCK || undefined;
/** `--baselines-json FILE`: compute the baselines only and write them to FILE (the child the stack run starts). */
const BASELINES_JSON = args.includes('--baselines-json') ? args[args.indexOf('--baselines-json') + 1] : undefined;
/**
 * BENCH_LOOP_MAX_MINUTES (or `--max-minutes M`): the stack part stops serving once M minutes passed since the bench
 * started, and every strategy is compared on the rows served until then (a shared stack's slot ends on time; the
 * figures say how many rows were served).
 */
const MAX_MINUTES = Number(
  args.includes('--max-minutes') ? args[args.indexOf('--max-minutes') + 1] : (process.env.BENCH_LOOP_MAX_MINUTES ?? 0),
);
const BENCH_STARTED = Date.now();

/** Labels per labelled window monitoring closes (the spec's performance.windowLabels). */
const WINDOW_LABELS = 96;

/**
 * The policy under test: retrain when a window of two days of labels (96) scores below 0.70 accuracy, when ADWIN fires
 * on the version's error stream, or once 480 rows (ten days) of new data arrived since the last retrain; then no
 * retrain before five days of new data (240 rows) and at most one per day. Chosen in the offline replay
 * (tools/bench/loop/explore.ts, the same rows, delay and trainer) over the whole stream, so an in-sample choice: with
 * the pipeline's trees 0.7894 with 102 retrains (6 candidates kept out by the registry) against weekly's 0.7898 with
 * 120; without the new-data trigger (4 leaves, 100 rows a leaf) 0.7806 with 94 retrains, every 384 rows 0.7845 with
 * 105, daily 0.7789 (default trees). Those runs served the measured model; with the refit on the whole window and
 * recency weights (half-life 1,200 rows), 0.7901 with 98 retrains against weekly's 0.7921 (below 0.75: 0.7898 with
 * 106; new data every 600 rows and a cooldown of 192: 0.7888 with 91). Other thresholds (0.72, 0.75), new data every
 * 384 to 1,344 rows and cooldowns of 96 to 336 rows scored 0.7877 to 0.7901 with 85 to 115 retrains: none matched weekly
 * with fewer retrains, and a schedule of one retrain a day reached only 0.7962 with 844 (weekly + 0.004), which bounds
 * what any choice of when to retrain can buy with this model (docs/benchmarks/loop.md explains why).
 */
const POLICY: RetrainPolicy = {
  triggers: {
    featureDrift: { enabled: false, minFeatures: 1 },
    predictionDrift: { enabled: false },
    performanceDrop: { metric: 'accuracy', below: 0.7, minRows: WINDOW_LABELS },
    conceptDrift: { enabled: true },
    newData: { rows: 480 },
  },
  cooldown: { rows: 240 },
  dailyCap: { max: 1, dayRows: PROTOCOL.labelDelayRows },
};

/** How many served rows between the harness's waits for monitoring to catch up (two days of data). */
const SYNC_EVERY_ROWS = 96;

/**
 * Labels (and their rows as new data) go out every 8 served rows, for the rows served 48 to 55 rows before: each
 * label arrives one day after its prediction, up to 7 rows later (the baselines see every label after exactly 48).
 */
const LABEL_EVERY_ROWS = 8;

/** Training's HTTP API (training requests and their runs). */
const TRAINING_HTTP = 'http://127.0.0.1:3004';

const log = (line: string) => process.stdout.write(`[bench:loop] ${line}\n`);

interface LoopRetrain {
  sequence: number;
  reason: string;
  why: string;
  decidedAtRow: number;
  /** Wall seconds from monitoring's decision to serving answering with the new champion (null: not promoted). */
  secondsToChampion: number | null;
  version: number | null;
}

interface StackResult extends StrategyResult {
  retrainDetails: LoopRetrain[];
  suppressed: number;
  wallSeconds: number;
  /** Served rows when the deadline (BENCH_LOOP_MAX_MINUTES) stopped the run early, else null. */
  stoppedAtDeadline: number | null;
}

interface Baselines {
  never: StrategyResult;
  weekly: StrategyResult;
  weeklyDefaults: StrategyResult;
  replay: StrategyResult;
  seconds: number;
}

async function json<T>(url: string, init?: RequestInit): Promise<T | undefined> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
  if (!response?.ok) return undefined;
  return (await response.json()) as T;
}

async function runOnStack(spec: PipelineSpecV1, rows: readonly Elec2Row[], end: number): Promise<StackResult> {
  const started = Date.now();
  // When the harness starts the services: monitoring archives served rows and joins labels every 250 ms rather than
  // every second, so the replay's waits for the joins (every two days of rows) are short; nothing else changes.
  process.env.PREDICTION_CHECKPOINT_INTERVAL_MS ??= '250';
  process.env.LABEL_JOIN_INTERVAL_MS ??= '250';
  const guard = await ensureServices(log);
  const kafka = createKafka({ clientId: 'bench-loop', brokers: ['127.0.0.1:9092'], logger: silentLogger });
  const producer = createProducer(kafka);
  await producer.connect();
  const publisher = new EventPublisher(producer, '/bench/loop');
  const client = new InferenceClient(endpoints.servingGrpc);
  try {
    await applySpec(JSON.stringify({ ...spec, performance: { windowLabels: WINDOW_LABELS } }), spec.id);
    const initial = rows.slice(0, PROTOCOL.initialRows);
    await publishUpstreamRecords(producer, spec.id, initial, { source: 'bench-loop', batchSize: initial.length });
    log(`published the first ${initial.length} rows; waiting for the first champion`);
    let champion = (await waitForChampion(spec.id, 600_000)).version;
    await waitForServing(client, spec.id, 120_000, champion);
    log(`champion v${champion} serving; streaming rows ${PROTOCOL.initialRows}..${end - 1}`);

    const predictions: string[] = [];
    const predictionIds: string[] = [];
    const retrainDetails: LoopRetrain[] = [];
    let seenDecisions = 0;
    let suppressed = 0;
    let labelsPublished = 0;
    const deadline = MAX_MINUTES > 0 ? BENCH_STARTED + MAX_MINUTES * 60_000 : Infinity;
    let servedEnd = end;
    for (let i = PROTOCOL.initialRows; i < end; i++) {
      const response = await client.modelInfer({ modelName: spec.id, inputs: columnTensors(spec, [rows[i]]) });
      const label = response.outputs.find((output) => output.name === 'label');
      predictions.push(label?.contents?.bytesContents[0]?.toString() ?? '');
      predictionIds.push(`${response.parameters.prediction_id?.stringParam}-0`);

      // The labels of the rows served a day ago arrive, and their rows as new data.
      const served = i - PROTOCOL.initialRows + 1;
      if (served % LABEL_EVERY_ROWS === 0 && served >= PROTOCOL.labelDelayRows + LABEL_EVERY_ROWS) {
        const to = i + 1 - PROTOCOL.labelDelayRows;
        const from = to - LABEL_EVERY_ROWS;
        const labels: EventData<typeof LabelReceivedV1>['labels'] = [];
        for (let j = from; j < to; j++) {
          labels.push({
            predictionId: predictionIds[j - PROTOCOL.initialRows],
            label: String(rows[j].class),
            observedAt: new Date().toISOString(),
          });
        }
        await publisher.publish(LabelReceivedV1, { pipelineId: spec.id as never, labels });
        await publishUpstreamRecords(producer, spec.id, rows.slice(from, to), { source: 'bench-loop' });
        labelsPublished += labels.length;
      }

      if (served % SYNC_EVERY_ROWS === 0) {
        await waitForJoins(spec.id, labelsPublished, PROTOCOL.initialRows + labelsPublished);
        const decisions = await json<{
          decisions: {
            sequence: number;
            outcome: string;
            reason: string;
            why: string;
            requestId?: string;
            clock: { wallTime: number };
          }[];
        }>(`${endpoints.monitoringHttp}/api/v1/pipelines/${spec.id}/retrain-decisions?limit=50`);
        const fresh = (decisions?.decisions ?? []).filter((d) => d.sequence > seenDecisions).reverse();
        for (const decision of fresh) {
          seenDecisions = decision.sequence;
          if (decision.outcome === 'suppressed') {
            suppressed += 1;
            continue;
          }
          const outcome = await waitForRetrain(spec.id, decision.requestId!, champion, client);
          if (outcome.version !== null) champion = outcome.version;
          retrainDetails.push({
            sequence: decision.sequence,
            reason: decision.reason,
            why: decision.why,
            decidedAtRow: i,
            secondsToChampion:
              outcome.version === null ? null : Number(((Date.now() - decision.clock.wallTime) / 1000).toFixed(1)),
            version: outcome.version,
          });
          log(
            `row ${i}: retrain #${decision.sequence} (${decision.reason}) → ${outcome.version === null ? 'not promoted' : `champion v${outcome.version}`}`,
          );
        }
      }
      if (served % 4_800 === 0) {
        log(
          `served ${served} rows, ${retrainDetails.length} retrains so far (${Math.round((Date.now() - started) / 1000)} s)`,
        );
      }
      // Stopped after a sync, so every decision on the rows served so far has been waited for.
      if (served % SYNC_EVERY_ROWS === 0 && Date.now() > deadline) {
        servedEnd = i + 1;
        log(`deadline (${MAX_MINUTES} min) reached: stopping after ${served} served rows`);
        break;
      }
    }
    const result = summarizeServed(rows, predictions, servedEnd);
    return {
      ...result,
      name: 'Keel closed loop (served predictions)',
      retrains: retrainDetails.length,
      retrainLog: retrainDetails.map((r) => ({
        atRow: r.decidedAtRow,
        reason: r.why,
        trainedOn: labelledWindow(r.decidedAtRow),
      })),
      retrainDetails,
      suppressed,
      wallSeconds: Math.round((Date.now() - started) / 1000),
      stoppedAtDeadline: servedEnd < end ? servedEnd - PROTOCOL.initialRows : null,
    };
  } finally {
    client.close();
    await producer.disconnect();
    await restoreServices(guard);
  }
}

/**
 * Waits until monitoring has settled every label published so far (joined, or given up on as unknown) and the policy
 * has counted every row published as data (validated, so a retrain's window holds them), bounded, so the labelled
 * windows those labels close have been decided on, on the clock a live run would have, before the replay goes on.
 */
async function waitForJoins(pipelineId: string, published: number, dataRows: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const policy = await json<{ clock: { rows: number } }>(
      `${endpoints.monitoringHttp}/api/v1/pipelines/${pipelineId}/retrain-policy`,
    );
    if (policy && policy.clock.rows < dataRows) {
      await sleep(50);
      continue;
    }
    const view = await json<{ join: { joined: number; unknown: number; invalid: number; duplicate: number } }>(
      `${endpoints.monitoringHttp}/api/v1/pipelines/${pipelineId}/labels`,
    );
    if (!view) return;
    const settled = view.join.joined + view.join.unknown + view.join.invalid + view.join.duplicate;
    if (settled >= published) {
      // The windows those joins closed reach the policy through Kafka: a moment for its consumer.
      await sleep(300);
      return;
    }
    await sleep(100);
  }
  log(`labels or data not all settled after 60 s (${published} labels, ${dataRows} rows published); going on`);
}

/** Waits for a fired request's run, the registry's verdict and, if promoted, serving the new champion. */
async function waitForRetrain(
  pipelineId: string,
  requestId: string,
  champion: number,
  client: InferenceClient,
): Promise<{ version: number | null }> {
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    const request = await json<{ status?: string; packageSha256?: string }>(
      `${TRAINING_HTTP}/api/v1/pipelines/${pipelineId}/training-requests/${encodeURIComponent(requestId)}`,
    );
    if (request?.status === 'trained') {
      const versions = await json<{
        versions: { version: number; packageSha256: string; gatesPassed?: boolean }[];
      }>(`${endpoints.registryHttp}/api/v1/models/${pipelineId}/versions`);
      const registered = versions?.versions.find((v) => v.packageSha256 === request.packageSha256);
      // A candidate a gate turned down (the comparison with the champion among them) never moves the alias.
      if (registered?.gatesPassed === false) return { version: null };
      if (registered) {
        // The alias moves right after registration when the candidate wins; give it a moment to.
        for (let k = 0; k < 150; k++) {
          const current = await json<{ version: number }>(
            `${endpoints.registryHttp}/api/v1/models/${pipelineId}/aliases/champion`,
          );
          if (current && current.version === registered.version) {
            await waitForServing(client, pipelineId, 120_000, registered.version);
            return { version: registered.version };
          }
          await sleep(100);
        }
        return { version: null };
      }
    }
    await sleep(200);
  }
  log(`request ${requestId} did not finish within 5 min; champion stays v${champion}`);
  return { version: null };
}

function summarizeServed(rows: readonly Elec2Row[], predictions: string[], end: number): StrategyResult {
  let correct = 0;
  const blocks: number[] = [];
  let blockCorrect = 0;
  for (let i = PROTOCOL.initialRows; i < end; i++) {
    const hit = predictions[i - PROTOCOL.initialRows] === rows[i].class ? 1 : 0;
    correct += hit;
    blockCorrect += hit;
    const inBlock = (i - PROTOCOL.initialRows) % PROTOCOL.windowRows;
    if (inBlock === PROTOCOL.windowRows - 1 || i === end - 1) {
      blocks.push(Number((blockCorrect / (inBlock + 1)).toFixed(4)));
      blockCorrect = 0;
    }
  }
  const served = end - PROTOCOL.initialRows;
  return { name: '', accuracy: correct / served, served, retrains: 0, retrainLog: [], accuracyByBlock: blocks };
}

function table(results: StrategyResult[]): string[] {
  return [
    '| strategy | prequential accuracy | retrains |',
    '| --- | ---: | ---: |',
    ...results.map((r) => `| ${r.name} | ${r.accuracy.toFixed(4)} | ${r.retrains} |`),
  ];
}

async function main(): Promise<void> {
  const id = `elec2-loop-${Date.now().toString(36)}`;
  const spec = elec2Spec(id, POLICY);
  const rows = elec2Rows(spec);
  const end = ROWS_LIMIT ? Math.min(rows.length, PROTOCOL.initialRows + ROWS_LIMIT) : rows.length;
  const used = rows.slice(0, end);
  log(`Elec2: ${rows.length} rows; serving rows ${PROTOCOL.initialRows}..${end - 1}`);

  if (BASELINES_JSON) {
    writeFileSync(BASELINES_JSON, JSON.stringify(await computeBaselines(spec, used)));
    return;
  }
  let baselines: Baselines;
  let loop: StackResult | undefined;
  if (OFFLINE) baselines = await computeBaselines(spec, used);
  else {
    // The baselines need no stack: a child process computes them while the stack part runs, so a shared stack is held
    // for the stack part only (the rows and trainer are the same; the child writes its results to a temporary file).
    const pending = baselinesInChild();
    pending.catch(() => undefined);
    loop = await underStackLock(() => runOnStack(spec, rows, end));
    baselines = await pending;
  }
  const cut = (result: StrategyResult) => (loop ? firstRows(result, loop.served) : result);
  const never = cut(baselines.never);
  const weekly = cut(baselines.weekly);
  const weeklyDefaults = cut(baselines.weeklyDefaults);
  const replay = cut(baselines.replay);
  const baselineSeconds = baselines.seconds;
  const target = loop
    ? {
        accuracyAtLeast080: loop.accuracy >= 0.8,
        beatsWeeklyBy001: loop.accuracy >= weekly.accuracy + 0.01,
        fewerRetrainsThanWeekly: loop.retrains < weekly.retrains,
      }
    : undefined;
  if (loop) {
    log(
      `closed loop: accuracy ${loop.accuracy.toFixed(4)}, ${loop.retrains} retrains (${reasonCounts(loop)}; ${loop.suppressed} suppressed)`,
    );
    for (const r of loop.retrainDetails) {
      log(
        `  retrain #${r.sequence} at row ${r.decidedAtRow}: ${r.why} → ${r.version === null ? 'not promoted' : `v${r.version} in ${r.secondsToChampion} s`}`,
      );
    }
    log(`target ${JSON.stringify(target)}`);
  }

  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).stdout.trim();
  const dirty =
    spawnSync('git', ['status', '--porcelain', '--', 'apps', 'libs', 'tools'], {
      cwd: repoRoot,
      encoding: 'utf8',
    }).stdout.trim().length > 0;
  const report = {
    date: new Date().toISOString(),
    commit: `${commit}${dirty ? ' (with uncommitted changes)' : ''}`,
    machine: { cpus: cpus().length, loadAverage: loadavg().map((v) => Number(v.toFixed(2))) },
    dataset: { name: 'Elec2', rows: rows.length, served: loop?.served ?? end - PROTOCOL.initialRows },
    protocol: {
      ...PROTOCOL,
      windowLabels: WINDOW_LABELS,
      syncEveryRows: SYNC_EVERY_ROWS,
      labelEveryRows: LABEL_EVERY_ROWS,
    },
    trainingWindowRows: spec.training.window.type === 'rows' ? spec.training.window.rows : null,
    training: {
      refitOnWholeWindow: spec.training.refitOnWholeWindow !== false,
      recencyWeights: spec.training.recencyWeights ?? null,
    },
    policy: POLICY,
    stoppedAtDeadline: loop?.stoppedAtDeadline ?? null,
    baselines: { never: withoutHits(never), weekly: withoutHits(weekly), weeklyDefaults: withoutHits(weeklyDefaults) },
    replay: withoutHits(replay),
    loop: loop ?? null,
    target: target ?? null,
    seconds: { baselines: baselineSeconds, loop: loop?.wallSeconds ?? null },
  };
  // A partial run (--rows) is a check, not the figures: it writes beside the system's temporary files.
  const out = ROWS_LIMIT ? tmpdir() : join(repoRoot, 'docs', 'benchmarks');
  writeFileSync(join(out, 'loop.json'), `${JSON.stringify(report, null, 2)}\n`);
  const results = [never, weekly, weeklyDefaults, replay, ...(loop ? [loop] : [])];
  const halfLife = spec.training.recencyWeights?.halfLifeRows;
  const trainer = [
    halfLife ? `, each row weighed by its recency (half-life ${halfLife} rows)` : '',
    spec.training.refitOnWholeWindow !== false
      ? "; the chosen model's holdout metrics are measured, then it is refit on every row of the window (train, validation and holdout) for serving, and the registry verifies and compares on the measured model"
      : '; the served model is the one measured on the holdout (no refit on the whole window)',
  ].join('');
  const md = [
    '# Closed loop on Elec2',
    '',
    `Run ${report.date.slice(0, 10)} by \`npm run bench:loop\`${OFFLINE ? ' --offline (no stack run)' : ''} at ${report.commit} on ${report.machine.cpus} cores (load average ${report.machine.loadAverage.join(', ')}); figures also in \`docs/benchmarks/loop.json\`.`,
    '',
    ...(loop?.stoppedAtDeadline
      ? [
          `**Cut short**: the stack part stopped at its deadline (${MAX_MINUTES} min, BENCH_LOOP_MAX_MINUTES) after ${loop.stoppedAtDeadline} of ${end - PROTOCOL.initialRows} served rows; every strategy below is scored on those first ${loop.stoppedAtDeadline} rows.`,
          '',
        ]
      : []),
    `Protocol (issue 9): the first ${PROTOCOL.initialRows} rows are published and trained on; the other ${end - PROTOCOL.initialRows} rows are served in time order, one ModelInfer call per row; each label arrives ${PROTOCOL.labelDelayRows} to ${PROTOCOL.labelDelayRows + LABEL_EVERY_ROWS - 1} rows (one day) after its prediction, ${LABEL_EVERY_ROWS} at a time, with its row as new data; every ${SYNC_EVERY_ROWS} rows the harness waits until monitoring has joined the labels and counted the rows, so decisions see the data a live run would. Baselines use our own trainer (features' window, split and transform, training's GBDT) in the harness: never retrained, and retrained every ${PROTOCOL.weekRows} rows on the newest ${PROTOCOL.windowRows} labelled rows. The pipeline trains GBDT with small trees (4 leaves, 400 rows a leaf; the baselines train the same, and the weekly one also with the trainer's defaults, for reference) on its newest ${report.trainingWindowRows} rows${trainer} (the baselines train the same way); its retrain policy fires when a window of ${WINDOW_LABELS} labels scores below ${POLICY.triggers.performanceDrop.below} accuracy, when ADWIN fires on the error stream or once ${POLICY.triggers.newData?.rows} rows of new data arrived, with a cooldown of ${POLICY.cooldown.rows} rows of new data and at most ${POLICY.dailyCap.max} retrain per ${POLICY.dailyCap.dayRows}-row day; the registry judges each candidate against the champion on the newest labelled rows neither trained on. Settings were chosen in an offline replay of the whole stream (\`tools/bench/loop/explore.ts\`), so the replay's figures are in-sample. The in-harness replay runs the policy's own decision function on the same windows with no lag; the closed loop is the stack.`,
    '',
    ...table(results),
    '',
    ...(loop
      ? [
          `Closed loop: ${loop.retrains} retrains (${reasonCounts(loop)}; ${loop.retrainDetails.filter((r) => r.version !== null).length} promoted), ${loop.suppressed} triggers suppressed; time from monitoring's decision to serving answering with the new champion: median ${median(loop.retrainDetails.map((r) => r.secondsToChampion).filter((s): s is number => s !== null))} s. Target (≥ 0.80, ≥ weekly + 0.01, fewer retrains than weekly): ${JSON.stringify(target)}.`,
          '',
          '| # | row | reason | champion | seconds |',
          '| ---: | ---: | --- | --- | ---: |',
          ...loop.retrainDetails.map(
            (r) =>
              `| ${r.sequence} | ${r.decidedAtRow} | ${r.why.replace(/\|/g, '/').slice(0, 140)} | ${r.version === null ? 'not promoted' : `v${r.version}`} | ${r.secondsToChampion ?? ''} |`,
          ),
        ]
      : ['The stack run was not part of this run.']),
    '',
    // The whole stream's baselines even when the stack part was cut short: the cadences are whole-stream figures.
    ...freshnessSection(rows, baselines.never, baselines.weekly),
    ...exploreSection(),
    `Accuracy per block of ${PROTOCOL.windowRows} served rows: ` +
      results.map((r) => `${r.name}: ${r.accuracyByBlock.join(', ')}`).join('; ') +
      '.',
    '',
  ].join('\n');
  writeFileSync(join(out, 'loop.md'), md);
  log(`wrote ${join(out, 'loop.md')} and loop.json`);
}

/** The baselines and the in-harness replay of the policy, with our trainer, no stack. */
async function computeBaselines(spec: PipelineSpecV1, used: readonly Elec2Row[]): Promise<Baselines> {
  const started = Date.now();
  const never = await neverRetrained(spec, used);
  log(`never retrained: accuracy ${never.accuracy.toFixed(4)}`);
  const weekly = await weeklyRetrained(spec, used, log);
  log(`retrained weekly: accuracy ${weekly.accuracy.toFixed(4)}, ${weekly.retrains} retrains`);
  // For reference: the weekly baseline with the trainer's default hyperparameters (no search in the spec).
  const { search: _search, ...defaultTraining } = spec.training;
  const weeklyDefaults = {
    ...(await weeklyRetrained({ ...spec, training: defaultTraining }, used, log)),
    name: 'retrained weekly, trainer defaults',
  };
  log(`retrained weekly with the trainer's defaults: accuracy ${weeklyDefaults.accuracy.toFixed(4)}`);
  const replay = await policyReplay(spec, POLICY, used, { windowLabels: WINDOW_LABELS, championLagRows: 0 });
  log(`policy replayed in the harness: accuracy ${replay.accuracy.toFixed(4)}, ${replay.retrains} retrains`);
  return { never, weekly, weeklyDefaults, replay, seconds: Math.round((Date.now() - started) / 1000) };
}

/** {@link computeBaselines} in a child process (this script with `--baselines-json`), so it runs beside the stack part. */
function baselinesInChild(): Promise<Baselines> {
  const file = join(tmpdir(), `keel-loop-baselines-${process.pid}.json`);
  const child = spawn(
    process.execPath,
    [
      '-r',
      '@swc-node/register',
      join(repoRoot, 'tools', 'bench', 'loop-bench.ts'),
      '--baselines-json',
      file,
      ...(ROWS_LIMIT ? ['--rows', String(ROWS_LIMIT)] : []),
    ],
    { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the baselines' process exited with ${code}`));
      else resolve(JSON.parse(readFileSync(file, 'utf8')) as Baselines);
    });
  });
}

function withoutHits({ hits: _hits, ...result }: StrategyResult): StrategyResult {
  return result;
}

/**
 * Runs `run` holding the stack lock when one is given: flock(1) holds it for a child that waits on its stdin, so the
 * lock goes when the harness closes that pipe or dies; the stack is started under it and stopped before it goes.
 */
async function underStackLock<T>(run: () => Promise<T>): Promise<T> {
  if (!STACK_LOCK) return run();
  log(`waiting for the stack lock ${STACK_LOCK}`);
  const holder = spawn('flock', [STACK_LOCK, 'sh', '-c', 'echo locked; exec cat'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    holder.once('error', reject);
    holder.once('exit', (code) => reject(new Error(`flock exited with ${code} before taking ${STACK_LOCK}`)));
    holder.stdout.once('data', () => resolve());
  });
  holder.removeAllListeners('exit');
  try {
    log('stack lock taken; npm run stack:up');
    const up = spawnSync('npm', ['run', 'stack:up'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
    if (up.status !== 0) throw new Error(`npm run stack:up exited with ${up.status}`);
    return await run();
  } finally {
    // The stack goes down inside the lock, so the next holder starts from a stopped stack.
    log('npm run stack:down');
    spawnSync('npm', ['run', 'stack:down'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
    holder.stdin.end();
  }
}

/**
 * Why a retrain policy cannot beat the weekly schedule by much here: what fresher models buy with the same trainer,
 * features and window (the offline replay's scheduled retrains at other cadences, group "freshness" in
 * loop-explore.json), and how much of the label a row cannot hold (the price's mean over the previous 48 rows).
 */
function freshnessSection(rows: readonly Elec2Row[], never: StrategyResult, weekly: StrategyResult): string[] {
  const path = join(repoRoot, 'docs', 'benchmarks', 'loop-explore.json');
  if (!existsSync(path)) return [];
  const { runs } = JSON.parse(readFileSync(path, 'utf8')) as {
    runs: {
      group?: string;
      config: { policy: { triggers: { schedule: { everyRows: number } } } };
      accuracy: number;
      retrains: number;
    }[];
  };
  const cadences = runs
    .filter((r) => r.group === 'freshness')
    .map((r) => ({ every: r.config.policy.triggers.schedule.everyRows, accuracy: r.accuracy, retrains: r.retrains }))
    .sort((a, b) => a.every - b.every);
  const daily = cadences.find((c) => c.every === PROTOCOL.labelDelayRows);
  if (cadences.length === 0 || !daily || weekly.served !== rows.length - PROTOCOL.initialRows) return [];
  // The label against the row's price and the 48 prices before it (the dataset's own definition, checked here).
  let agree = 0;
  for (let i = PROTOCOL.labelDelayRows; i < rows.length; i++) {
    let sum = 0;
    for (let k = 1; k <= PROTOCOL.labelDelayRows; k++) sum += Number(rows[i - k].nswprice);
    const up = Number(rows[i].nswprice) > sum / PROTOCOL.labelDelayRows;
    if (up === (rows[i].class === 'UP')) agree += 1;
  }
  const share = agree / (rows.length - PROTOCOL.labelDelayRows);
  const list = [
    ...cadences.map((c) => ({ ...c, note: '' })),
    { every: PROTOCOL.weekRows, accuracy: weekly.accuracy, retrains: weekly.retrains, note: ', weekly, this run' },
  ]
    .sort((a, b) => a.every - b.every)
    .map((c) => `every ${c.every} rows ${c.accuracy.toFixed(4)} (${c.retrains} retrains${c.note})`);
  list.push(`never ${never.accuracy.toFixed(4)}`);
  return [
    `Why a policy does not beat the weekly schedule here. What a fresher model buys with this trainer, these features and this window (the offline replay, scheduled retrains, the whole stream): ${list.join(', ')}. Retraining every day, ${(daily.retrains / Math.max(1, weekly.retrains)).toFixed(1)} times as often as weekly, gains ${(daily.accuracy - weekly.accuracy).toFixed(4)} over it. With labels a day late a model a few days old is about as good as a fresh one, so a policy with fewer retrains than weekly can choose when to retrain but has almost nothing to gain by it: 0.01 over weekly is not within reach of any trigger with this model, and what is left is the model itself, which the baselines share (same trainer, same features). What the model lacks is history: the label says whether the price is above its mean over the previous 48 rows (that rule reproduces ${(share * 100).toFixed(2)} % of the labels), which no single row holds. A feature computed from the previous day of prices would give every strategy the label almost exactly, and the platform has no features computed from earlier rows at serving time; row-level transforms tried in the replay (price per demand, NSW minus Victoria, a cyclical period, weekend) moved weekly by 0.002 at most (rows with "computed" below).`,
    '',
  ];
}

/**
 * The offline replay's runs (docs/benchmarks/loop-explore.json, written from tools/bench/loop/explore.ts's output): how
 * the settings were chosen, one row per configuration, best first.
 */
function exploreSection(): string[] {
  const path = join(repoRoot, 'docs', 'benchmarks', 'loop-explore.json');
  if (!existsSync(path)) return [];
  const { note, runs } = JSON.parse(readFileSync(path, 'utf8')) as {
    note: string;
    runs: { config: unknown; accuracy: number; retrains: number; championKept: number }[];
  };
  const sorted = [...runs].sort((a, b) => b.accuracy - a.accuracy);
  return [
    `Settings tried in the offline replay (${note}); "kept" counts retrains whose candidate lost the comparison with the champion (compare: always promote, fresh = on the newest candidate holdout rows the champion never held, as the registry now does, same-holdout = on every holdout row the champion did not train on, as it did before; comparisons score the models from before a refit); refitOnWholeWindow true serves the model refit on the whole window, false the one measured on the holdout; the configuration as explore.ts takes it, shortened (trees: a one-configuration search of maxLeaves/minSamplesLeaf; drift triggers off throughout):`,
    '',
    '| configuration | prequential accuracy | retrains | kept |',
    '| --- | ---: | ---: | ---: |',
    ...sorted.map(
      (r) => `| \`${compactConfig(r.config)}\` | ${r.accuracy.toFixed(4)} | ${r.retrains} | ${r.championKept} |`,
    ),
    '',
  ];
}

/** A configuration in short: the one-configuration search as `trees: leaves/rows`, the disabled drift triggers left out. */
function compactConfig(config: unknown): string {
  return JSON.stringify(config)
    .replace(
      /"search":\{"gbdt":\{"space":\{"maxLeaves":\{"kind":"choice","values":\[(\d+)\]\}(?:,"minSamplesLeaf":\{"kind":"choice","values":\[(\d+)\]\})?\},"trials":1\}\}/,
      (_, leaves: string, rows?: string) => `"trees":"${leaves}/${rows ?? 20}"`,
    )
    .replace('"featureDrift":{"enabled":false},"predictionDrift":{"enabled":false},', '')
    .replace(/\|/g, '/');
}

/** Retrains by reason, e.g. `60 new-data, 32 performance-drop`. */
function reasonCounts(loop: StackResult): string {
  const counts = new Map<string, number>();
  for (const r of loop.retrainDetails) counts.set(r.reason, (counts.get(r.reason) ?? 0) + 1);
  return [...counts].map(([reason, n]) => `${n} ${reason}`).join(', ');
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`[bench:loop] failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
