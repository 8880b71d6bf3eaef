import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { portOpen } from './processes';
import { pinnedVersions } from './provision';
import { cacheRoot, repoRoot, runRoot } from './paths';

/** Credentials of the local MinIO; the services' config defaults use the same pair. */
export const minioCredentials = { user: 'keeladmin', password: 'keeladmin-secret' } as const;

export interface ServerDefinition {
  name: string;
  version: string;
  /** Ports this server binds on 127.0.0.1, by role. */
  ports: Record<string, number>;
  /** Substring of the command line that identifies our process behind a PID. */
  marker: string;
  /** The cached file whose presence proves the server is provisioned (deploy/local/provision.mk builds it). */
  artifact: string;
  /** Writes configuration and initialises data directories; returns how to start the server. */
  prepare(dataDir: string): { command: string; args: string[]; env?: NodeJS.ProcessEnv };
  /** True once the server accepts work. */
  ready(logFile: string): Promise<boolean>;
  startTimeoutMs: number;
  /** The signal that stops it cleanly (SIGTERM unless said). */
  stopSignal?: NodeJS.Signals;
  /** Run after it is ready, on every `up`, so it must be idempotent (the secure profile's users and ACLs). */
  configure?(): Promise<void>;
}

const { KAFKA_VERSION, MINIO_VERSION, FERRETDB_BUILD, JAEGER_VERSION, POSTGRES_MAJOR } = pinnedVersions();

const kafkaHome = join(cacheRoot, `kafka-${KAFKA_VERSION}`);
const minioBinary = join(cacheRoot, `minio-${MINIO_VERSION}`, 'minio');
const ferretdbBinary = join(cacheRoot, `ferretdb-${FERRETDB_BUILD}`, 'ferretdb');
const jaegerBinary = join(cacheRoot, `jaeger-${JAEGER_VERSION}`, 'jaeger');
const postgresHome = join(cacheRoot, `postgres-${POSTGRES_MAJOR}`);
/** A link to the binaries' directory (deploy/local/provision.mk makes it). */
export const postgresBin = join(postgresHome, 'bin');

/** Role and database of the local PostgreSQL (trust auth on loopback only); the services' defaults use them. */
export const postgresDatabase = { user: 'keel', database: 'keel', port: 5432 } as const;
/** The URL of the local stack's database (trust authentication on loopback, so no password). */
export const localPostgresUrl = `postgres://${postgresDatabase.user}@127.0.0.1:${postgresDatabase.port}/${postgresDatabase.database}`;

async function httpOk(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
  return response.ok;
}

const kafka: ServerDefinition = {
  name: 'kafka',
  version: KAFKA_VERSION,
  ports: { client: 9092, controller: 9093 },
  marker: 'kafka.Kafka',
  startTimeoutMs: 60_000,
  artifact: join(kafkaHome, 'libs', `kafka_2.13-${KAFKA_VERSION}.jar`),
  prepare(dataDir) {
    const logDir = join(dataDir, 'logs');
    const properties = join(dataDir, 'server.properties');
    const base = readFileSync(join(repoRoot, 'deploy/local/kafka/server.properties'), 'utf8');
    writeFileSync(properties, `${base}\nlog.dirs=${logDir}\n`);
    const java = ['-cp', `${join(kafkaHome, 'libs')}/*`];
    // KRaft storage is formatted once per data directory; meta.properties marks it done.
    if (!existsSync(join(logDir, 'meta.properties'))) {
      const clusterId = execFileSync('java', [...java, 'kafka.tools.StorageTool', 'random-uuid'], {
        encoding: 'utf8',
      }).trim();
      execFileSync(
        'java',
        [...java, 'kafka.tools.StorageTool', 'format', '--standalone', '-t', clusterId, '-c', properties],
        { stdio: 'ignore' },
      );
    }
    return {
      command: 'java',
      args: [
        '-Xms256m',
        '-Xmx768m',
        '-XX:+UseG1GC',
        `-Dlog4j2.configurationFile=${join(repoRoot, 'deploy/local/kafka/log4j2.properties')}`,
        ...java,
        'kafka.Kafka',
        properties,
      ],
    };
  },
  async ready(logFile) {
    if (!(await portOpen(9092))) return false;
    return (
      existsSync(logFile) &&
      /Kafka Server started|\[KafkaRaftServer nodeId=\d+\] Kafka Server started/.test(
        readFileSync(logFile, 'utf8').slice(-200_000),
      )
    );
  },
};

const minio: ServerDefinition = {
  name: 'minio',
  version: MINIO_VERSION,
  ports: { s3: 9000, console: 9001 },
  marker: minioBinary,
  startTimeoutMs: 30_000,
  artifact: minioBinary,
  prepare(dataDir) {
    const storage = join(dataDir, 'data');
    mkdirSync(storage, { recursive: true });
    return {
      command: minioBinary,
      args: ['server', storage, '--address', '127.0.0.1:9000', '--console-address', '127.0.0.1:9001', '--quiet'],
      env: {
        MINIO_ROOT_USER: minioCredentials.user,
        MINIO_ROOT_PASSWORD: minioCredentials.password,
        MINIO_UPDATE: 'off',
        MINIO_BROWSER: 'on',
      },
    };
  },
  ready: () => httpOk('http://127.0.0.1:9000/minio/health/live'),
};

const ferretdb: ServerDefinition = {
  name: 'ferretdb',
  version: FERRETDB_BUILD,
  ports: { mongodb: 27017 },
  marker: ferretdbBinary,
  startTimeoutMs: 30_000,
  artifact: ferretdbBinary,
  prepare(dataDir) {
    const sqlite = join(dataDir, 'sqlite');
    const state = join(dataDir, 'state');
    mkdirSync(sqlite, { recursive: true });
    mkdirSync(state, { recursive: true });
    return {
      command: ferretdbBinary,
      args: [
        '--handler=sqlite',
        `--sqlite-url=file:${sqlite}/`,
        '--listen-addr=127.0.0.1:27017',
        `--state-dir=${state}`,
        '--telemetry=disable',
        '--debug-addr=-',
        '--log-level=warn',
      ],
    };
  },
  ready: () => portOpen(27017),
};

const jaeger: ServerDefinition = {
  name: 'jaeger',
  version: JAEGER_VERSION,
  ports: { otlpGrpc: 4317, otlpHttp: 4318, query: 16686, queryGrpc: 16685 },
  marker: jaegerBinary,
  startTimeoutMs: 30_000,
  artifact: jaegerBinary,
  prepare() {
    return { command: jaegerBinary, args: ['--config', join(repoRoot, 'deploy/local/jaeger/config.yaml')] };
  },
  ready: async () => (await portOpen(4318)) && httpOk('http://127.0.0.1:16686/api/services'),
};

/**
 * PostgreSQL refuses to run as root. Under root, it runs in a user namespace that maps root to an unprivileged user
 * (postgres, else nobody): inside it is not root, outside its files stay root's, so a run directory under /root (mode
 * 700) needs no ownership or permission change. Anyone else runs it directly.
 */
function asNonRoot(command: string, args: string[]): { command: string; args: string[] } {
  if (process.getuid?.() !== 0) return { command, args };
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n');
  const entry = (passwd.find((line) => line.startsWith('postgres:')) ?? 'nobody:x:65534:65534').split(':');
  return {
    command: 'unshare',
    args: ['--user', `--map-user=${entry[2]}`, `--map-group=${entry[3]}`, command, ...args],
  };
}

/** Libraries of Debian's packages when provision.mk unpacked them into the cache (libpq for pg_isready). */
export function postgresEnv(): NodeJS.ProcessEnv {
  const libs = join(postgresHome, 'root/usr/lib/x86_64-linux-gnu');
  if (!existsSync(libs)) return {};
  return { LD_LIBRARY_PATH: [libs, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
}

const postgres: ServerDefinition = {
  name: 'postgres',
  version: POSTGRES_MAJOR,
  ports: { sql: postgresDatabase.port },
  marker: join(postgresBin, 'postgres'),
  startTimeoutMs: 30_000,
  artifact: postgresBin,
  // SIGTERM is a "smart" shutdown that waits for every client to disconnect; SIGINT ends their sessions first.
  stopSignal: 'SIGINT',
  prepare(dataDir) {
    const data = join(dataDir, 'data');
    const env = postgresEnv();
    const run = (binary: string, args: string[], input?: string) => {
      const wrapped = asNonRoot(join(postgresBin, binary), args);
      execFileSync(wrapped.command, wrapped.args, { input, env: { ...process.env, ...env }, stdio: 'pipe' });
    };
    // initdb once per data directory; the cluster's superuser is keel, and single-user mode creates its database.
    if (!existsSync(join(data, 'PG_VERSION'))) {
      run('initdb', ['-D', data, '-U', postgresDatabase.user, '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
      run('postgres', ['--single', '-D', data, 'postgres'], `CREATE DATABASE ${postgresDatabase.database};\n`);
    }
    const major = readFileSync(join(data, 'PG_VERSION'), 'utf8').trim();
    if (major !== POSTGRES_MAJOR) {
      throw new Error(`postgres: ${data} holds a PostgreSQL ${major} cluster; this stack runs ${POSTGRES_MAJOR}`);
    }
    return {
      ...asNonRoot(join(postgresBin, 'postgres'), [
        '-D',
        data,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        `port=${postgresDatabase.port}`,
        '-c',
        `unix_socket_directories=${dataDir}`,
        '-c',
        'max_connections=200',
      ]),
      env,
    };
  },
  ready: () =>
    new Promise((resolve) => {
      const args = ['-q', '-h', '127.0.0.1', '-p', String(postgresDatabase.port), '-U', postgresDatabase.user];
      execFile(join(postgresBin, 'pg_isready'), args, { env: { ...process.env, ...postgresEnv() } }, (error) =>
        resolve(error === null),
      );
    }),
};

/** In start order: Kafka takes longest, so it starts first and the others come up while it boots. */
export const servers: readonly ServerDefinition[] = [kafka, minio, ferretdb, jaeger, postgres];

export function serverDirs(server: ServerDefinition): { dataDir: string; logFile: string; pidFile: string } {
  const dataDir = join(runRoot, server.name);
  return { dataDir, logFile: join(runRoot, `${server.name}.log`), pidFile: join(runRoot, `${server.name}.pid`) };
}
