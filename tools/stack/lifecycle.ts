/** Bringing the local stack's servers up and down, and reporting their state (used by stack.ts and the chaos tool). */
import { mkdirSync } from 'node:fs';
import { livePid, portOpen, startDetached, stopProcess, waitFor } from './processes';
import { runRoot } from './paths';
import { provisionServers } from './provision';
import { secureServers } from './secure';
import { type ServerDefinition, serverDirs, servers } from './servers';

/** Progress lines of the stack operations, on stderr so they never mix with a caller's report on stdout. */
export function log(message: string): void {
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

/** Provisions what is missing of `selected`, starts what is stopped, and waits until every one is ready. */
export async function up(selected: readonly ServerDefinition[]): Promise<void> {
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
  for (const server of selected) {
    if (!server.configure) continue;
    const t = Date.now();
    await server.configure();
    log(`${server.name} configured in ${seconds(t)}`);
  }
  log(`stack up in ${seconds(started)}`);
}

/** Stops only the servers this tooling started (by recorded PID). */
export async function down(selected: readonly ServerDefinition[]): Promise<void> {
  await Promise.all(
    [...selected].reverse().map(async (server) => {
      const { pidFile } = serverDirs(server);
      const pid = livePid(pidFile, server.marker);
      if (pid === undefined) return;
      await stopProcess(pid, pidFile, undefined, server.stopSignal);
      log(`${server.name} stopped (pid ${pid})`);
    }),
  );
}

/** Prints each server's state, version, ports and PID; true when all are ready. */
export async function status(): Promise<boolean> {
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

/**
 * Optional server names after the command restrict it to those servers; none means the default stack. The secure
 * profile's servers (kafka-secure, minio-secure; `secure` for both) run only when named.
 */
export function select(names: readonly string[]): readonly ServerDefinition[] {
  if (names.length === 0) return servers;
  const wanted = names.flatMap((name) => (name === 'secure' ? secureServers.map((server) => server.name) : [name]));
  const known = [...servers, ...secureServers];
  const unknown = wanted.filter((name) => !known.some((server) => server.name === name));
  if (unknown.length > 0) throw new Error(`unknown server(s): ${unknown.join(', ')}`);
  return known.filter((server) => wanted.includes(server.name));
}
