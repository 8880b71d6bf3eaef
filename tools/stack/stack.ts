/**
 * The local stack without Docker: real Kafka (KRaft), MinIO, FerretDB and Jaeger built from public registries,
 * cached outside the repository and run as plain processes bound to 127.0.0.1.
 *
 *   stack.ts up       provision what is missing, start what is stopped, wait until every server is ready
 *   stack.ts down     stop only the processes this script started (by recorded PID)
 *   stack.ts status   each server's state, version and ports
 *
 * `up` and `down` take optional server names (kafka, minio, ferretdb, jaeger) to act on some only.
 */
import { mkdirSync } from 'node:fs';
import { livePid, portOpen, startDetached, stopProcess, waitFor } from './processes';
import { runRoot } from './paths';
import { provisionServers } from './provision';
import { type ServerDefinition, serverDirs, servers } from './servers';

function log(message: string): void {
  process.stderr.write(`[stack] ${message}\n`);
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

async function portsHeldByOthers(server: ServerDefinition): Promise<number[]> {
  const held: number[] = [];
  for (const port of Object.values(server.ports)) if (await portOpen(port)) held.push(port);
  return held;
}

async function up(selected: readonly ServerDefinition[]): Promise<void> {
  const started = Date.now();
  mkdirSync(runRoot, { recursive: true });
  await provisionServers(selected, log);
  const waits: Promise<void>[] = [];
  for (const server of selected) {
    const { dataDir, logFile, pidFile } = serverDirs(server);
    if (livePid(pidFile, server.marker) !== undefined) {
      waits.push(waitFor(server.name, () => server.ready(logFile), server.startTimeoutMs));
      continue;
    }
    const held = await portsHeldByOthers(server);
    if (held.length > 0) {
      // Something else (a Docker container, a system service) already serves these ports: use it if it is ready.
      if (await server.ready(logFile).catch(() => false)) {
        log(`${server.name}: ports ${held.join(', ')} are served by a process this script did not start; using it`);
        continue;
      }
      throw new Error(`${server.name}: ports ${held.join(', ')} are taken by another process; free them first`);
    }
    mkdirSync(dataDir, { recursive: true });
    const spec = server.prepare(dataDir);
    const pid = startDetached({ ...spec, logFile, pidFile, cwd: dataDir });
    log(`${server.name} starting (pid ${pid}, log ${logFile})`);
    const t = Date.now();
    waits.push(
      waitFor(server.name, () => server.ready(logFile), server.startTimeoutMs).then(() =>
        log(`${server.name} ready in ${seconds(t)}`),
      ),
    );
  }
  const results = await Promise.allSettled(waits);
  const failures = results.flatMap((result) => (result.status === 'rejected' ? [String(result.reason)] : []));
  if (failures.length > 0) throw new Error(`${failures.join('; ')} (see the logs under ${runRoot})`);
  log(`stack up in ${seconds(started)}`);
}

async function down(selected: readonly ServerDefinition[]): Promise<void> {
  await Promise.all(
    [...selected].reverse().map(async (server) => {
      const { pidFile } = serverDirs(server);
      const pid = livePid(pidFile, server.marker);
      if (pid === undefined) return;
      await stopProcess(pid, pidFile);
      log(`${server.name} stopped (pid ${pid})`);
    }),
  );
}

async function status(): Promise<boolean> {
  let allReady = true;
  const rows = [['server', 'state', 'version', 'ports', 'pid']];
  for (const server of servers) {
    const { logFile, pidFile } = serverDirs(server);
    const pid = livePid(pidFile, server.marker);
    const ready = await server.ready(logFile).catch(() => false);
    const state = ready ? (pid ? 'running' : 'running (external)') : pid ? 'starting' : 'stopped';
    if (!ready) allReady = false;
    const ports = Object.entries(server.ports)
      .map(([role, port]) => `${role}=${port}`)
      .join(' ');
    rows.push([server.name, state, server.version, ports, pid ? String(pid) : '-']);
  }
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  for (const row of rows) process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i])).join('  ')}\n`);
  return allReady;
}

/** Optional server names after the command restrict it to those servers. */
function select(names: readonly string[]): readonly ServerDefinition[] {
  if (names.length === 0) return servers;
  const unknown = names.filter((name) => !servers.some((server) => server.name === name));
  if (unknown.length > 0) throw new Error(`unknown server(s): ${unknown.join(', ')}`);
  return servers.filter((server) => names.includes(server.name));
}

async function main(command: string | undefined, names: readonly string[]): Promise<void> {
  switch (command) {
    case 'up':
      return up(select(names));
    case 'down':
      return down(select(names));
    case 'status':
      if (!(await status())) process.exitCode = 3;
      return;
    default:
      throw new Error(`usage: stack.ts up|down|status [server ...] (got ${command ?? 'nothing'})`);
  }
}

main(process.argv[2], process.argv.slice(3)).catch((error: unknown) => {
  log(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
