/**
 * `npm start`: brings the local stack up, (re)starts the seven services, and shows that they are healthy and
 * tracing. Everything is left running; `npm stop` stops it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fetchServices } from '@keel/testing';
import { services, startServices } from '../services/services';
import { stack } from '../stack/stack-control';

function say(message: string): void {
  process.stdout.write(`${message}\n`);
}

async function main(): Promise<void> {
  const started = Date.now();
  stack('up');
  say('starting the seven services ...');
  await startServices();
  say(`all services healthy after ${((Date.now() - started) / 1000).toFixed(1)} s`);

  let traced: string[] = [];
  for (let attempt = 0; attempt < 40; attempt++) {
    traced = await fetchServices();
    if (services.every(({ name }) => traced.includes(name))) break;
    await sleep(500);
  }
  say('');
  say('service     health                      gRPC    traced in Jaeger');
  for (const { name, httpPort, ...rest } of services) {
    const grpcPort = 'grpcPort' in rest ? String(rest.grpcPort) : '-';
    const health = await fetch(`http://127.0.0.1:${httpPort}/health`).then((r) => r.status);
    say(
      `${name.padEnd(12)}${`http://127.0.0.1:${httpPort}/health ${health}`.padEnd(34)}${grpcPort.padEnd(8)}${traced.includes(name) ? 'yes' : 'no'}`,
    );
  }
  say('');
  say('Jaeger API: http://127.0.0.1:16686/api/services   MinIO console: http://127.0.0.1:9001');
  say('Everything keeps running; `npm stop` stops the services and the stack.');
  const missing = services.filter(({ name }) => !traced.includes(name));
  if (missing.length > 0) throw new Error(`not traced in Jaeger yet: ${missing.map((s) => s.name).join(', ')}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`npm start failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
