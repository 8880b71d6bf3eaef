import { execFileSync } from 'node:child_process';
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
}

const { KAFKA_VERSION, MINIO_VERSION, FERRETDB_BUILD, JAEGER_VERSION } = pinnedVersions();

const kafkaHome = join(cacheRoot, `kafka-${KAFKA_VERSION}`);
const minioBinary = join(cacheRoot, `minio-${MINIO_VERSION}`, 'minio');
const ferretdbBinary = join(cacheRoot, `ferretdb-${FERRETDB_BUILD}`, 'ferretdb');
const jaegerBinary = join(cacheRoot, `jaeger-${JAEGER_VERSION}`, 'jaeger');

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

/** In start order: Kafka takes longest, so it starts first and the others come up while it boots. */
export const servers: readonly ServerDefinition[] = [kafka, minio, ferretdb, jaeger];

export function serverDirs(server: ServerDefinition): { dataDir: string; logFile: string; pidFile: string } {
  const dataDir = join(runRoot, server.name);
  return { dataDir, logFile: join(runRoot, `${server.name}.log`), pidFile: join(runRoot, `${server.name}.pid`) };
}
