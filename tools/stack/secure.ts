/**
 * The secure profile of the local stack: a second Kafka, MinIO and FerretDB, from the same builds, on their own ports
 * (Kafka 19092, MinIO 19000, FerretDB 19017) and data directories, so the default stack that every other test uses is
 * untouched.
 *
 * - Kafka authenticates every client with SASL/SCRAM-SHA-512 and authorises it with KRaft's StandardAuthorizer:
 *   one user per service (and `upstream` for systems that publish records and labels), ACLs from
 *   tools/stack/secure-access.ts, nothing allowed without an ACL.
 * - MinIO has one user per service with its own policy (serving reads models and writes nothing else), created
 *   through MinIO's admin API by deploy/local/minio-admin.
 * - FerretDB refuses every command from a client that has not authenticated (SCRAM-SHA-256), with one user per
 *   service. That is authentication only: FerretDB 1.24 has no authorization (its `createUser` refuses any role, and
 *   any authenticated user may read and write every database and manage users), and its user store is its
 *   experimental `--test-enable-new-auth` mode, the only one with its own users on the SQLite backend (the older mode
 *   passes credentials through to a PostgreSQL backend). Least privilege per service on the database needs MongoDB,
 *   or FerretDB 2 on PostgreSQL with the DocumentDB extension, whose users are PostgreSQL roles.
 *
 * Passwords are generated on first start and kept in `<stack dir>/secure/credentials.json` (mode 600), which is
 * also where a developer or a test reads a service's credentials: `npm run stack:up -- secure`, then see
 * `secureCredentials()` or the file.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { allTopics } from '@keel/contracts';
import { BUCKETS } from '@keel/storage';
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  Kafka,
  logLevel,
  ResourcePatternTypes,
} from 'kafkajs';
import { Client as MinioClient } from 'minio';
import { cacheRoot, repoRoot, runRoot } from './paths';
import { portOpen } from './processes';
import { pinnedVersions } from './provision';
import {
  aclsOf,
  bucketPolicyOf,
  KAFKA_ADMIN_PRINCIPAL,
  SECURE_SERVICES,
  type SecureService,
  UPSTREAM_PRINCIPAL,
} from './secure-access';
import { type ServerDefinition } from './servers';

export const SECURE_KAFKA_PORT = 19092;
export const SECURE_MINIO_PORT = 19000;
export const SECURE_MONGO_PORT = 19017;
export const secureKafkaBrokers = [`127.0.0.1:${SECURE_KAFKA_PORT}`];
export const secureS3Endpoint = `http://127.0.0.1:${SECURE_MINIO_PORT}`;

export interface SecureCredentials {
  kafka: Record<string, string>;
  minio: { root: { user: string; password: string }; users: Record<SecureService, string> };
  /** Absent from credentials files written before the secure FerretDB existed; added on first read. */
  mongo?: { root: { user: string; password: string }; users: Record<SecureService, string> };
}

const secureDir = join(runRoot, 'secure');
const credentialsFile = join(secureDir, 'credentials.json');

const secret = () => randomBytes(24).toString('base64url');

/** The profile's credentials, made on first use and kept beside its data. */
export function secureCredentials(): SecureCredentials & Required<Pick<SecureCredentials, 'mongo'>> {
  if (existsSync(credentialsFile)) {
    const stored = JSON.parse(readFileSync(credentialsFile, 'utf8')) as SecureCredentials;
    if (stored.mongo) return { ...stored, mongo: stored.mongo };
    const upgraded = { ...stored, mongo: mongoCredentials() };
    writeFileSync(credentialsFile, `${JSON.stringify(upgraded, null, 2)}\n`, { mode: 0o600 });
    return upgraded;
  }
  const kafkaUsers = [KAFKA_ADMIN_PRINCIPAL, UPSTREAM_PRINCIPAL, ...SECURE_SERVICES];
  const credentials = {
    kafka: Object.fromEntries(kafkaUsers.map((user) => [user, secret()])),
    minio: {
      root: { user: 'keel-root', password: secret() },
      users: Object.fromEntries(SECURE_SERVICES.map((service) => [service, secret()])) as Record<SecureService, string>,
    },
    mongo: mongoCredentials(),
  };
  mkdirSync(secureDir, { recursive: true, mode: 0o700 });
  writeFileSync(credentialsFile, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  return credentials;
}

function mongoCredentials(): NonNullable<SecureCredentials['mongo']> {
  return {
    root: { user: 'keel-root', password: secret() },
    users: Object.fromEntries(SECURE_SERVICES.map((service) => [service, secret()])) as Record<SecureService, string>,
  };
}

/**
 * The secure FerretDB's URL for a service's user (`keel-<service>`), or for its root user: SCRAM-SHA-256 against the
 * users FerretDB keeps in its admin database.
 */
export function secureMongoUrl(service?: SecureService, database = 'keel'): string {
  const { root, users } = secureCredentials().mongo;
  const user = service ? minioUserOf(service) : root.user;
  const password = service ? users[service] : root.password;
  return (
    `mongodb://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${SECURE_MONGO_PORT}/` +
    `${database}?authSource=admin&authMechanism=SCRAM-SHA-256`
  );
}

/** A service's object-store user is named after it: `keel-<service>`, as in deploy/k8s/base/secrets.yaml. */
export const minioUserOf = (service: SecureService) => `keel-${service}`;

/** A kafkajs client authenticated as `user` on the secure broker. */
export function secureKafka(user: string, password = secureCredentials().kafka[user]): Kafka {
  return new Kafka({
    clientId: `secure-${user}`,
    brokers: secureKafkaBrokers,
    sasl: { mechanism: 'scram-sha-512', username: user, password },
    logLevel: logLevel.NOTHING,
    retry: { retries: 2, initialRetryTime: 200 },
  });
}

/** A MinIO client for the secure object store: a service's user, or the root user. */
export function secureMinio(service?: SecureService): MinioClient {
  const { root, users } = secureCredentials().minio;
  return new MinioClient({
    endPoint: '127.0.0.1',
    port: SECURE_MINIO_PORT,
    useSSL: false,
    accessKey: service ? minioUserOf(service) : root.user,
    secretKey: service ? users[service] : root.password,
    region: 'us-east-1',
  });
}

const { KAFKA_VERSION, MINIO_VERSION, FERRETDB_BUILD } = pinnedVersions();
const ferretdbBinary = join(cacheRoot, `ferretdb-${FERRETDB_BUILD}`, 'ferretdb');
const kafkaHome = join(cacheRoot, `kafka-${KAFKA_VERSION}`);
const minioBinary = join(cacheRoot, `minio-${MINIO_VERSION}`, 'minio');

/** The admin tool's cache path, keyed as deploy/local/provision.mk keys it: a hash of its sources. */
function minioAdminBinary(): string {
  const dir = join(repoRoot, 'deploy/local/minio-admin');
  const sources = [
    ...readdirSync(dir)
      .filter((name) => name.endsWith('.go'))
      .sort(),
    'go.mod',
    'go.sum',
  ];
  const hash = createHash('sha256');
  for (const name of sources) hash.update(readFileSync(join(dir, name)));
  return join(cacheRoot, `minio-admin-${hash.digest('hex').slice(0, 12)}`, 'keel-minio-admin');
}

async function logSays(logFile: string, pattern: RegExp): Promise<boolean> {
  return existsSync(logFile) && pattern.test(readFileSync(logFile, 'utf8').slice(-200_000));
}

const kafkaSecure: ServerDefinition = {
  name: 'kafka-secure',
  version: KAFKA_VERSION,
  ports: { client: SECURE_KAFKA_PORT, controller: 19093 },
  // The properties path sets this broker apart from the default one, whose command line is otherwise the same.
  marker: join(runRoot, 'kafka-secure', 'server.properties'),
  startTimeoutMs: 90_000,
  artifact: join(kafkaHome, 'libs', `kafka_2.13-${KAFKA_VERSION}.jar`),
  prepare(dataDir) {
    const { kafka: passwords } = secureCredentials();
    const admin = passwords[KAFKA_ADMIN_PRINCIPAL];
    const logDir = join(dataDir, 'logs');
    const properties = join(dataDir, 'server.properties');
    const base = readFileSync(join(repoRoot, 'deploy/local/kafka/server-secure.properties'), 'utf8');
    writeFileSync(
      properties,
      [
        base,
        `log.dirs=${logDir}`,
        `listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${KAFKA_ADMIN_PRINCIPAL}" password="${admin}";`,
        `listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="${KAFKA_ADMIN_PRINCIPAL}" password="${admin}" user_${KAFKA_ADMIN_PRINCIPAL}="${admin}";`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const java = ['-cp', `${join(kafkaHome, 'libs')}/*`];
    // Every user's SCRAM credential is written into the metadata log when the storage is formatted, so the broker
    // starts with them (KRaft has no ZooKeeper to hold them, and the broker needs the admin's to talk to itself).
    if (!existsSync(join(logDir, 'meta.properties'))) {
      const clusterId = execFileSync('java', [...java, 'kafka.tools.StorageTool', 'random-uuid'], {
        encoding: 'utf8',
      }).trim();
      const scram = Object.entries(passwords).flatMap(([name, password]) => [
        '--add-scram',
        `SCRAM-SHA-512=[name=${name},password=${password}]`,
      ]);
      execFileSync(
        'java',
        [...java, 'kafka.tools.StorageTool', 'format', '--standalone', '-t', clusterId, '-c', properties, ...scram],
        { stdio: 'ignore' },
      );
    }
    return {
      command: 'java',
      args: [
        '-Xms256m',
        '-Xmx512m',
        '-XX:+UseG1GC',
        `-Dlog4j2.configurationFile=${join(repoRoot, 'deploy/local/kafka/log4j2.properties')}`,
        ...java,
        'kafka.Kafka',
        properties,
      ],
    };
  },
  async ready(logFile) {
    return (await portOpen(SECURE_KAFKA_PORT)) && logSays(logFile, /Kafka Server started/);
  },
  /** Topics and ACLs, as the admin; both idempotent, so every `up` applies them. */
  async configure() {
    // Loaded here: the messaging lib brings telemetry with it, which no other stack command needs.
    const { ensureTopics } = await import('@keel/messaging');
    const admin = secureKafka(KAFKA_ADMIN_PRINCIPAL).admin();
    await admin.connect();
    try {
      await ensureTopics(admin, { topics: allTopics() });
      const principals = [UPSTREAM_PRINCIPAL, ...SECURE_SERVICES] as const;
      await admin.createAcls({
        acl: principals.flatMap(aclsOf).map((acl) => ({
          resourceType: AclResourceTypes[acl.resourceType],
          resourceName: acl.resourceName,
          resourcePatternType: ResourcePatternTypes[acl.patternType],
          principal: acl.principal,
          host: '*',
          operation: AclOperationTypes[acl.operation],
          permissionType: AclPermissionTypes.ALLOW,
        })),
      });
    } finally {
      await admin.disconnect();
    }
  },
};

const minioSecure: ServerDefinition = {
  name: 'minio-secure',
  version: MINIO_VERSION,
  ports: { s3: SECURE_MINIO_PORT, console: 19001 },
  marker: join(runRoot, 'minio-secure', 'data'),
  startTimeoutMs: 30_000,
  // `make minio-secure` builds MinIO and the admin tool; whichever is missing marks it unprovisioned.
  artifact: existsSync(minioBinary) ? minioAdminBinary() : minioBinary,
  prepare(dataDir) {
    const storage = join(dataDir, 'data');
    mkdirSync(storage, { recursive: true });
    const { root } = secureCredentials().minio;
    return {
      command: minioBinary,
      args: [
        'server',
        storage,
        '--address',
        `127.0.0.1:${SECURE_MINIO_PORT}`,
        '--console-address',
        '127.0.0.1:19001',
        '--quiet',
      ],
      env: {
        MINIO_ROOT_USER: root.user,
        MINIO_ROOT_PASSWORD: root.password,
        MINIO_UPDATE: 'off',
        MINIO_BROWSER: 'off',
      },
    };
  },
  async ready() {
    const response = await fetch(`${secureS3Endpoint}/minio/health/live`, { signal: AbortSignal.timeout(1_000) });
    return response.ok;
  },
  /** Buckets as root, then one policy and one user per service through the admin tool (idempotent). */
  async configure() {
    const root = secureMinio();
    for (const bucket of Object.values(BUCKETS)) {
      if (!(await root.bucketExists(bucket))) await root.makeBucket(bucket);
    }
    const { minio } = secureCredentials();
    const access = {
      policies: Object.fromEntries(SECURE_SERVICES.map((service) => [`keel-${service}`, bucketPolicyOf(service)])),
      users: SECURE_SERVICES.map((service) => ({
        accessKey: minioUserOf(service),
        secretKey: minio.users[service],
        policy: `keel-${service}`,
      })),
    };
    // The users' secrets go to the tool in a file only it reads, removed right after.
    const file = join(secureDir, `minio-access-${process.pid}.json`);
    writeFileSync(file, JSON.stringify(access), { mode: 0o600 });
    try {
      execFileSync(minioAdminBinary(), [`127.0.0.1:${SECURE_MINIO_PORT}`, file], {
        env: { ...process.env, MINIO_ROOT_USER: minio.root.user, MINIO_ROOT_PASSWORD: minio.root.password },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } finally {
      rmSync(file, { force: true });
    }
  },
};

const ferretdbSecure: ServerDefinition = {
  name: 'ferretdb-secure',
  version: FERRETDB_BUILD,
  ports: { mongodb: SECURE_MONGO_PORT },
  // Its own data directory is on its command line; the binary is the default FerretDB's too.
  marker: join(runRoot, 'ferretdb-secure', 'sqlite'),
  startTimeoutMs: 30_000,
  artifact: ferretdbBinary,
  prepare(dataDir) {
    const sqlite = join(dataDir, 'sqlite');
    const state = join(dataDir, 'state');
    mkdirSync(sqlite, { recursive: true });
    mkdirSync(state, { recursive: true });
    const { root } = secureCredentials().mongo;
    return {
      command: ferretdbBinary,
      args: [
        '--handler=sqlite',
        `--sqlite-url=file:${sqlite}/`,
        `--listen-addr=127.0.0.1:${SECURE_MONGO_PORT}`,
        `--state-dir=${state}`,
        '--telemetry=disable',
        '--debug-addr=-',
        '--log-level=warn',
        // Users of its own, SCRAM-SHA-256, every command refused before authentication (see the header).
        '--test-enable-new-auth',
        '--setup-database=admin',
      ],
      // The first user (root) is created at start-up from the environment, so its password is on no command line.
      env: { FERRETDB_SETUP_USERNAME: root.user, FERRETDB_SETUP_PASSWORD: root.password },
    };
  },
  ready: () => portOpen(SECURE_MONGO_PORT),
  /** One user per service, as root (idempotent: an existing user gets its password again). */
  async configure() {
    // Loaded here, as the messaging lib is in kafka-secure's configure: only this command needs a MongoDB client.
    const { default: mongoose } = await import('mongoose');
    const client = new mongoose.mongo.MongoClient(secureMongoUrl(undefined, 'admin'), {
      serverSelectionTimeoutMS: 10_000,
    });
    await client.connect();
    try {
      const admin = client.db('admin');
      const { users: existing } = (await admin.command({ usersInfo: 1 })) as { users: { user: string }[] };
      const { users } = secureCredentials().mongo;
      for (const service of SECURE_SERVICES) {
        const user = minioUserOf(service);
        // FerretDB 1.24 takes no roles (it has no authorization): the user may only authenticate.
        const command = existing.some((entry) => entry.user === user)
          ? { updateUser: user, pwd: users[service] }
          : { createUser: user, pwd: users[service], roles: [] };
        await admin.command(command);
      }
    } finally {
      await client.close();
    }
  },
};

/** The secure profile's servers, started only when named (`stack.ts up secure`), never by a bare `up`. */
export const secureServers: readonly ServerDefinition[] = [kafkaSecure, minioSecure, ferretdbSecure];
