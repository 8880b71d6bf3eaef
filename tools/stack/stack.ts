/**
 * The local stack without Docker: real Kafka (KRaft), MinIO, FerretDB and Jaeger built from public registries, and
 * PostgreSQL from Debian's packages, cached outside the repository and run as plain processes bound to 127.0.0.1.
 *
 *   stack.ts up       provision what is missing, start what is stopped, wait until every server is ready
 *   stack.ts down     stop only the processes this script started (by recorded PID)
 *   stack.ts status   each server's state, version and ports
 *
 * `up` and `down` take optional server names (kafka, minio, ferretdb, jaeger, postgres) to act on some only.
 * `up secure` starts the secure profile's servers instead (kafka-secure on 19092, minio-secure on 19000; see
 * tools/stack/secure.ts): SASL/SCRAM and ACLs per service on Kafka, a user and policy per service on MinIO.
 *
 * Fault injection (what `npm run chaos` does, by hand; docs/reliability.md):
 *
 *   stack.ts kill <server ...>             kill -9, nothing brought back
 *   stack.ts restart <server ...>          kill -9, then up again on the same data
 *   stack.ts pause <server> <seconds>      SIGSTOP, SIGCONT after the seconds (clients' calls hang meanwhile)
 *   stack.ts resume <server ...>           SIGCONT now (ends a pause whose caller was interrupted)
 *   stack.ts stop-for <server> <seconds>   clean stop, up again after the seconds (connections refused meanwhile)
 */
import { down, log, select, status, up } from './lifecycle';
import { killServer, pauseServer, restartServer, resumeServer, stopServerFor } from './faults';

function oneServerFor(command: string, args: readonly string[]) {
  const [name, secondsText] = args;
  const seconds = Number(secondsText);
  if (name === undefined || !Number.isFinite(seconds) || seconds <= 0) {
    throw new Error(`usage: stack.ts ${command} <server> <seconds>`);
  }
  return { server: select([name])[0], ms: seconds * 1000 };
}

function someServers(command: string, names: readonly string[]) {
  if (names.length === 0) throw new Error(`usage: stack.ts ${command} <server ...>`);
  return select(names);
}

async function main(command: string | undefined, args: readonly string[]): Promise<void> {
  switch (command) {
    case 'up':
      return up(select(args));
    case 'down':
      return down(select(args));
    case 'status':
      if (!(await status())) process.exitCode = 3;
      return;
    case 'kill':
      for (const server of someServers(command, args)) await killServer(server);
      return;
    case 'restart':
      for (const server of someServers(command, args)) await restartServer(server);
      return;
    case 'pause': {
      const { server, ms } = oneServerFor(command, args);
      return pauseServer(server, ms);
    }
    case 'resume':
      for (const server of someServers(command, args)) resumeServer(server);
      return;
    case 'stop-for': {
      const { server, ms } = oneServerFor(command, args);
      return stopServerFor(server, ms);
    }
    default:
      throw new Error(
        `usage: stack.ts up|down|status [server ...] | kill|restart|resume <server ...> | pause|stop-for <server> <seconds> (got ${command ?? 'nothing'})`,
      );
  }
}

main(process.argv[2], process.argv.slice(3)).catch((error: unknown) => {
  log(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
