/**
 * `npm start`: brings the local stack up, (re)starts the seven services, then runs the Adult (binary classification)
 * and Bike Sharing (regression) pipelines at the same time, from data events to a served model, and prints a summary.
 * Everything is left running; `npm stop` stops it.
 */
import { telemetry } from '../demo/telemetry';
import { createKafka, createProducer, silentLogger } from '@keel/messaging';
import { fetchServices } from '@keel/testing';
import { setTimeout as sleep } from 'node:timers/promises';
import { bundledPipelines, type PipelineRun, runPipeline } from '../demo/run-pipeline';
import { endpoints } from '../demo/pipeline-client';
import { services, startServices } from '../services/services';
import { stack } from '../stack/stack-control';

function say(message: string): void {
  process.stdout.write(`${message}\n`);
}

async function getJson<T>(url: string): Promise<T | undefined> {
  const response = await fetch(url).catch(() => undefined);
  return response?.ok ? ((await response.json()) as T) : undefined;
}

async function summarize(run: PipelineRun): Promise<void> {
  const id = run.spec.id;
  const datasets = (
    await getJson<{ items: { datasetVersionId: string; rowCount: number; sha256: string }[] }>(
      `${endpoints.ingestionHttp}/api/v1/pipelines/${id}/datasets`,
    )
  )?.items;
  const reports = (
    await getJson<{ items: { datasetVersionId: string; passed: boolean; findings: unknown[] }[] }>(
      `${endpoints.validationHttp}/api/v1/pipelines/${id}/reports`,
    )
  )?.items;
  const dataset = datasets?.[0];
  const report = reports?.find((r) => r.datasetVersionId === dataset?.datasetVersionId) ?? reports?.[0];
  const metrics = Object.entries(run.champion.metrics)
    .map(([name, value]) => `${name}=${value.toFixed(4)}`)
    .join(' ');
  const outputs = run.firstPrediction.outputs.map((output) => {
    const values = output.contents?.fp64Contents.length
      ? output.contents.fp64Contents.slice(0, 3).map((v) => v.toFixed(3))
      : (output.contents?.bytesContents ?? []).slice(0, 3).map((bytes) => Buffer.from(bytes).toString());
    return `${output.name}=[${values.join(', ')}, ...]`;
  });
  say('');
  say(`pipeline ${id} (${run.spec.task})`);
  say(`  data:        ${run.publishedRecords} records in ${run.publishedEvents} events on mlops.data.records.v1`);
  say(
    `  dataset:     ${dataset ? `${dataset.datasetVersionId} (${dataset.rowCount} rows, sha256 ${dataset.sha256.slice(0, 12)}…)` : 'n/a'}`,
  );
  say(
    `  validation:  ${report ? (report.passed ? 'passed' : 'rejected') + ` (${report.findings.length} findings)` : 'n/a'}`,
  );
  say(`  model:       ${id} v${run.champion.version} (${run.champion.algorithm}), champion`);
  say(`  holdout:     ${metrics}`);
  say(`  ModelInfer:  ${outputs.join(' ')}`);
  say(`  trace:       ${run.traceId}  (http://127.0.0.1:16686/api/traces/${run.traceId})`);
}

async function main(): Promise<void> {
  const started = Date.now();
  stack('up');
  say('starting the seven services ...');
  await startServices();
  say(`all services healthy after ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const kafka = createKafka({ clientId: 'keel-demo', brokers: ['127.0.0.1:9092'], logger: silentLogger });
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    say('running the adult-income and bike-demand pipelines ...');
    const runs = await Promise.all([
      runPipeline(bundledPipelines.adult, producer, { log: say }),
      runPipeline(bundledPipelines.bike, producer, { log: say }),
    ]);
    await telemetry.forceFlush();
    for (const run of runs) await summarize(run);
  } finally {
    await producer.disconnect();
  }

  let traced: string[] = [];
  for (let attempt = 0; attempt < 40; attempt++) {
    traced = await fetchServices();
    if (services.every(({ name }) => traced.includes(name))) break;
    await sleep(500);
  }
  say('');
  say('service     health                            gRPC    traced in Jaeger');
  for (const { name, httpPort, ...rest } of services) {
    const grpcPort = 'grpcPort' in rest ? String(rest.grpcPort) : '-';
    const health = await fetch(`http://127.0.0.1:${httpPort}/health`).then((r) => r.status);
    say(
      `${name.padEnd(12)}${`http://127.0.0.1:${httpPort}/health ${health}`.padEnd(34)}${grpcPort.padEnd(8)}${traced.includes(name) ? 'yes' : 'no'}`,
    );
  }
  say('');
  say(`done in ${((Date.now() - started) / 1000).toFixed(0)} s. Jaeger API: http://127.0.0.1:16686/api/services`);
  say('Everything keeps running; `npm stop` stops the services and the stack.');
  await telemetry.shutdown();
}

main().catch((error: unknown) => {
  process.stderr.write(`npm start failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
