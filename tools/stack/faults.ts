/**
 * Fault injection for the local stack's servers, used by the chaos tool (tools/chaos) and `stack.ts` alike: kill -9,
 * a pause (SIGSTOP, then SIGCONT) and a stop for a while. Each acts only on a process this tooling started (by
 * recorded PID), never on a server someone else runs on the same ports.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { down, log, up } from './lifecycle';
import { killProcess, livePid, portOpen, waitFor } from './processes';
import { type ServerDefinition, serverDirs } from './servers';

function pidOf(server: ServerDefinition): number {
  const { pidFile } = serverDirs(server);
  const pid = livePid(pidFile, server.marker);
  if (pid === undefined)
    throw new Error(`${server.name} is not running under this tooling (no live PID in ${pidFile})`);
  return pid;
}

/** kill -9: no shutdown hook runs, nothing is flushed; returns once the process is gone and its ports are free. */
export async function killServer(server: ServerDefinition): Promise<void> {
  const pid = pidOf(server);
  await killProcess(pid);
  await waitFor(
    `${server.name}'s ports to close after kill -9`,
    async () => !(await Promise.all(Object.values(server.ports).map((port) => portOpen(port)))).some(Boolean),
    30_000,
  );
  log(`${server.name} killed (SIGKILL, pid ${pid})`);
}

/** kill -9, then start it again on the same data and wait until it is ready. */
export async function restartServer(server: ServerDefinition): Promise<void> {
  await killServer(server);
  await up([server]);
}

/**
 * Freezes the server for `ms` (SIGSTOP, then SIGCONT): its sockets stay open and its clients' calls hang instead of
 * failing fast, as during a long GC pause, a frozen VM or a network partition. An abort resumes it at once.
 */
export async function pauseServer(server: ServerDefinition, ms: number, signal?: AbortSignal): Promise<void> {
  const pid = pidOf(server);
  process.kill(pid, 'SIGSTOP');
  log(`${server.name} paused (SIGSTOP, pid ${pid}) for ${Math.round(ms / 1000)} s`);
  try {
    await sleep(ms, undefined, { signal });
  } finally {
    process.kill(pid, 'SIGCONT');
    log(`${server.name} resumed (SIGCONT, pid ${pid})`);
  }
}

/** SIGCONT: ends a pause that its caller could not end (a chaos run interrupted mid-pause). */
export function resumeServer(server: ServerDefinition): void {
  process.kill(pidOf(server), 'SIGCONT');
}

/** Stops the server cleanly (connections refused meanwhile), waits `ms`, and starts it again. */
export async function stopServerFor(server: ServerDefinition, ms: number): Promise<void> {
  await down([server]);
  log(`${server.name} stays stopped for ${Math.round(ms / 1000)} s`);
  await sleep(ms);
  await up([server]);
}
