/**
 * The doors of the running services, as the live fuzz knocks on them: each sends one input the way an outsider
 * would (HTTP, gRPC or a Kafka record) and answers with its outcome, so the runner can read every service's event
 * loop around it. Inputs come from the in-process fuzz targets (targets.ts), rewritten to name the fuzz run's own
 * pipelines, plus inputs at the sizes each running service's limits allow.
 */
import * as grpc from '@grpc/grpc-js';
import { type EventContract, deadLetterTopic, eventRegistry } from '@keel/contracts';
import { fixtureCsvText } from '@keel/testing';
import fc from 'fast-check';
import { type Admin, AssignerProtocol, type Producer } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FuzzTarget } from '../targets';
import { deepText, mutatedBytes, mutatedJson, nested } from '../mutations';

/** The pipelines a live run creates for itself, so no fuzz input touches anyone else's. */
export interface LivePipelines {
  /** Has a champion served by serving: OIP requests name it. */
  model: string;
  /** Uploads and Kafka events name it. */
  data: string;
  /** Spec PUTs go to it (its spec changes with every valid mutant). */
  spec: string;
}

export interface LiveDoor<Input = unknown> {
  /** `ingestion POST …/datasets (CSV)`, `kafka mlops.data.records.v1`, … */
  name: string;
  /** The service that owns the door (every service's loop is read, this one is the one expected to move). */
  owner: string;
  limit: string;
  /** Generated cases; none for doors measured only at their limit. */
  arbitrary?: fc.Arbitrary<Input>;
  largest: () => { label: string; input: Input }[];
  send: (input: Input) => Promise<string>;
  /** After a group of sends: waits until the service has handled them (Kafka: committed by every consumer). */
  settle?: () => Promise<string | undefined>;
  /** Extra quiet time after an input at the limit, for work it starts after answering (an upload's dataset). */
  afterLargestMs?: number;
}

const MIB = 1024 * 1024;
/** The services' defaults (libs/config, apps/*\/src/config.ts): the sizes the running stack allows. */
export const LIVE_LIMITS = {
  httpJson: MIB,
  upload: 100 * MIB,
  servingGrpc: 16 * MIB,
  registryGrpc: 4 * MIB,
  kafkaRecord: 1_000_000,
} as const;

/** Status and the error's shape: numbers, quoted text and ids folded so reasons group. */
function reasonOf(status: string, body: string): string {
  let message = body;
  try {
    const parsed = JSON.parse(body) as { message?: unknown; error?: unknown };
    const text = parsed.message ?? parsed.error;
    message = Array.isArray(text) ? String(text[0]) : typeof text === 'string' ? text : body;
  } catch {
    // not JSON: the text itself
  }
  const folded = message
    .replace(/"[^"]*"/g, '"…"')
    .replace(/fuzz-[a-z0-9-]+/g, '<pipeline>')
    .replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/gi, 'N')
    .replace(/\s+/g, ' ')
    .slice(0, 90);
  return `${status}: ${folded}`;
}

async function http(
  url: string,
  init: { method: string; contentType?: string; body?: Uint8Array | string; headers?: Record<string, string> },
): Promise<string> {
  const attempt = () =>
    fetch(url, {
      method: init.method,
      headers: { ...(init.contentType ? { 'content-type': init.contentType } : {}), ...init.headers },
      body: init.body,
      signal: AbortSignal.timeout(120_000),
    });
  try {
    // A pooled keep-alive connection the service closed (after refusing an earlier body) fails before reaching it:
    // sent once more on a fresh one.
    const response = await attempt().catch((error: unknown) => {
      if ((error as { cause?: { code?: string } }).cause?.code === 'UND_ERR_SOCKET') return attempt();
      throw error;
    });
    const text = await response.text();
    return response.ok ? 'accepted' : reasonOf(`HTTP ${response.status}`, text);
  } catch (error) {
    // A server that closes the connection on an oversized body (after its 413) can reset the upload mid-send.
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return `connection: ${cause ?? (error as Error).message}`;
  }
}

const withPipeline = (text: string, pipelineId: string) => text.replaceAll('adult-income', pipelineId);

// ---------------------------------------------------------------------------------------------------------------
// HTTP

/** Uploads to ingestion: the in-process CSV target's generated files, and files at the 100 MiB limit. */
function uploadDoor(base: string, csv: FuzzTarget, pipelines: LivePipelines): LiveDoor<string | (() => Buffer)> {
  const url = `${base}/api/v1/pipelines/${pipelines.data}/datasets`;
  const limit = LIVE_LIMITS.upload;
  const rows = fixtureCsvText('adult', { count: 20_000 });
  const header = rows.slice(0, rows.indexOf('\n') + 1);
  const body = rows.slice(header.length);
  // Files of `size` bytes built when sent (three of 100 MiB at once would crowd the machine's memory).
  const fill = (size: number, last: string) => () => {
    const copies = Math.floor((size - header.length - last.length) / body.length);
    const text = header + body.repeat(copies);
    // Whole rows only, so the file is a few bytes short of `size`.
    return Buffer.from(text + body.slice(0, size - text.length - last.length).replace(/[^\n]*$/, '') + last);
  };
  return {
    name: 'ingestion POST /api/v1/pipelines/:id/datasets (CSV upload)',
    owner: 'ingestion',
    limit: `INGESTION_MAX_UPLOAD_BYTES (${limit / MIB} MiB)`,
    arbitrary: (csv.arbitrary as fc.Arbitrary<{ text: string }>).map(({ text }) => text),
    largest: () => [
      // Parsed to the last row on ingestion's worker, then refused whole: the most work a file can cause there.
      { label: '100 MiB of valid rows, the last one bad', input: fill(limit, '39,Private,x,Bachelors\n') },
      {
        label: '100 MiB: one unterminated quoted field',
        input: () => Buffer.from(`${header}"${'x'.repeat(limit - header.length - 1)}`),
      },
      { label: 'a row over the limit', input: fill(limit + 200, '') },
      // Accepted: a dataset version, then validated, featurised and trained on downstream.
      { label: '8 MiB of valid rows (a dataset version)', input: fill(8 * MIB, '') },
    ],
    send: (input) =>
      http(url, {
        method: 'POST',
        contentType: 'text/csv',
        body: typeof input === 'function' ? input() : Buffer.from(input),
      }),
    afterLargestMs: 3_000,
  };
}

/** Pipeline specs PUT to the registry as YAML (parsed on its worker pool) and JSON (the HTTP body parser). */
function specDoors(base: string, yaml: FuzzTarget, json: FuzzTarget, pipelines: LivePipelines): LiveDoor<string>[] {
  const url = `${base}/api/v1/pipelines/${pipelines.spec}`;
  const door = (target: FuzzTarget, contentType: string, limit: string): LiveDoor<string> => ({
    name: `registry PUT /api/v1/pipelines/:id (${contentType})`,
    owner: 'registry',
    limit,
    arbitrary: (target.arbitrary as fc.Arbitrary<string>).map((text) => withPipeline(text, pipelines.spec)),
    largest: () =>
      (target.largest() as { label: string; input: string }[]).map(({ label, input }) => ({
        label,
        input: withPipeline(input, pipelines.spec),
      })),
    send: (text) => http(url, { method: 'PUT', contentType, body: text }),
  });
  return [
    door(yaml, 'application/yaml', 'spec text 1 MiB, PIPELINE_SPEC_MAX_FEATURES, PIPELINE_SPEC_MAX_VALUES'),
    door(json, 'application/json', 'HTTP_MAX_JSON_BYTES (1 MiB), JSON_MAX_DEPTH'),
  ];
}

/** Serving's OIP REST binding: JSON bodies and the binary extension. */
function restDoors(base: string, json: FuzzTarget, binary: FuzzTarget, pipelines: LivePipelines): LiveDoor[] {
  const url = `${base}/v2/models/${pipelines.model}/infer`;
  const jsonDoor: LiveDoor<string> = {
    name: 'serving POST /v2/models/:name/infer (JSON)',
    owner: 'serving',
    limit: 'HTTP_MAX_JSON_BYTES (1 MiB), SERVING_MAX_ROWS_PER_REQUEST',
    arbitrary: json.arbitrary as fc.Arbitrary<string>,
    largest: () => json.largest() as { label: string; input: string }[],
    send: (text) => http(url, { method: 'POST', contentType: 'application/json', body: text }),
  };
  type Binary = { bytes: Buffer; headerLength: number };
  const binaryDoor: LiveDoor<Binary> = {
    name: 'serving POST /v2/models/:name/infer (binary extension)',
    owner: 'serving',
    limit: 'HTTP_MAX_JSON_BYTES (1 MiB), SERVING_MAX_ROWS_PER_REQUEST',
    arbitrary: binary.arbitrary as fc.Arbitrary<Binary>,
    largest: () => binary.largest() as { label: string; input: Binary }[],
    send: ({ bytes, headerLength }) =>
      http(url, {
        method: 'POST',
        contentType: 'application/octet-stream',
        headers: { 'inference-header-content-length': String(headerLength) },
        body: bytes,
      }),
  };
  return [jsonDoor as LiveDoor, binaryDoor as LiveDoor];
}

/**
 * JSON bodies of the other write routes: the same body parser in every service (depth checked, then parsed on the
 * event loop), so each service gets hostile JSON at its 1 MiB limit. `body` is a plausible body of the route.
 */
function jsonBodyDoor(owner: string, method: string, base: string, path: string, body: unknown): LiveDoor<string> {
  return {
    name: `${owner} ${method} ${path.replace(/fuzz-[a-z0-9-]+/g, ':id')} (JSON body)`,
    owner,
    limit: 'HTTP_MAX_JSON_BYTES (1 MiB), JSON_MAX_DEPTH',
    arbitrary: fc.oneof(
      { weight: 4, arbitrary: mutatedJson(body).map((value) => JSON.stringify(value) ?? '') },
      { weight: 1, arbitrary: deepText(20_000) },
      { weight: 1, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value)) },
    ),
    largest: () => [
      { label: 'arrays nested to 1 MiB', input: nested(LIVE_LIMITS.httpJson / 2 - 10) },
      { label: '1 MiB of one-digit array items', input: `[${Array(LIVE_LIMITS.httpJson / 2 - 10).fill(1)}]` },
      { label: 'one number of 1 MiB digits', input: `{"n":${'9'.repeat(LIVE_LIMITS.httpJson - 10)}}` },
      { label: '1 MiB of short keys', input: `{${Array.from({ length: 80_000 }, (_, i) => `"k${i}":1`)}}` },
    ],
    send: (text) => http(`${base}${path}`, { method, contentType: 'application/json', body: text }),
  };
}

/** GET routes with hostile path parameters (long, encoded, traversal), for the services with only reads. */
function readDoor(owner: string, base: string, path: (id: string) => string): LiveDoor<string> {
  return {
    name: `${owner} GET ${path(':id')}`,
    owner,
    limit: "Node's header limit (16 KiB)",
    arbitrary: fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ minLength: 1_000, maxLength: 12_000, unit: fc.constantFrom('a', '%2F', '..', '%00', '-') }),
    ),
    largest: () => [{ label: '15 KiB id', input: 'a'.repeat(15 * 1024) }],
    send: (id) => http(`${base}${path(encodeURIComponent(id))}`, { method: 'GET' }),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// gRPC: raw bytes on the wire, so mutated encodings reach the server's deserializer.

function grpcDoor(
  owner: string,
  address: string,
  method: string,
  limitBytes: number,
  inputs: { arbitrary: fc.Arbitrary<Buffer>; largest: () => { label: string; input: Buffer }[] },
): LiveDoor<Buffer> & { close: () => void } {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': -1,
    'grpc.max_receive_message_length': -1,
  });
  return {
    name: `${owner} gRPC ${method.split('/').pop()}`,
    owner,
    limit: `GRPC_MAX_RECEIVE_BYTES (${limitBytes / MIB} MiB)`,
    arbitrary: inputs.arbitrary,
    largest: inputs.largest,
    send: (bytes) =>
      new Promise((resolve) => {
        client.makeUnaryRequest(
          method,
          (b: Buffer) => b,
          (b: Buffer) => b,
          bytes,
          new grpc.Metadata(),
          { deadline: Date.now() + 120_000 },
          (error) => {
            if (!error) resolve('accepted');
            else resolve(reasonOf(`gRPC ${grpc.status[error.code] ?? error.code}`, error.details));
          },
        );
      }),
    close: () => client.close(),
  };
}

/** A protobuf string field (wire type 2). */
function stringField(field: number, text: string): Buffer {
  const bytes = Buffer.from(text);
  const varint = (n: number) => {
    const out: number[] = [];
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return out;
  };
  return Buffer.concat([Buffer.from([(field << 3) | 2, ...varint(bytes.length)]), bytes]);
}

/** The registry's read RPCs, with a model-name request mutated and at its 4 MiB limit. */
function registryGrpcDoors(address: string, pipelines: LivePipelines): (LiveDoor<Buffer> & { close: () => void })[] {
  const request = Buffer.concat([stringField(1, pipelines.model), stringField(2, 'champion')]);
  // Reads that look a model up by name (the others take the same request shapes and pass the same decoder).
  return ['ResolveAlias', 'ListModelVersions'].map((rpc) =>
    grpcDoor('registry', address, `/mlops.registry.v1.ModelRegistry/${rpc}`, LIVE_LIMITS.registryGrpc, {
      arbitrary: fc.oneof(
        { weight: 3, arbitrary: mutatedBytes(request) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)) },
      ),
      largest: () => [
        { label: 'a name just under 4 MiB', input: stringField(1, 'x'.repeat(LIVE_LIMITS.registryGrpc - 100)) },
        { label: '4 MiB + 1 KiB', input: stringField(1, 'x'.repeat(LIVE_LIMITS.registryGrpc + 1024)) },
      ],
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Kafka: records published to each topic, then waited for until every consumer group assigned the topic committed.

interface KafkaInput {
  headers: Record<string, string>;
  value: Buffer | null;
}

/** The consumer groups that currently have `topic` assigned (the services that consume it). */
async function consumersOf(admin: Admin, topic: string): Promise<string[]> {
  const { groups } = await admin.listGroups();
  if (groups.length === 0) return [];
  const described = await admin.describeGroups(groups.map((g) => g.groupId));
  return described.groups
    .filter(
      (group) =>
        group.state === 'Stable' &&
        group.members.some((member) => {
          const assignment = AssignerProtocol.MemberAssignment.decode(member.memberAssignment);
          return assignment !== null && topic in assignment.assignment;
        }),
    )
    .map((group) => group.groupId);
}

type Ends = { partition: number; high: string }[];

/**
 * Waits until each group has committed, on every partition that received records since `before`, up to that
 * partition's end; names the groups that did not within `timeoutMs`.
 */
async function committedToEnd(
  admin: Admin,
  topic: string,
  groups: string[],
  before: Ends,
  timeoutMs: number,
): Promise<string[]> {
  const startOf = new Map(before.map(({ partition, high }) => [partition, BigInt(high)]));
  const moved = (await admin.fetchTopicOffsets(topic)).filter(
    ({ partition, high }) => BigInt(high) > (startOf.get(partition) ?? 0n),
  );
  const deadline = Date.now() + timeoutMs;
  let behind = moved.length === 0 ? [] : groups;
  while (behind.length > 0 && Date.now() < deadline) {
    const still: string[] = [];
    for (const groupId of behind) {
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const done = moved.every(({ partition, high }) => {
        const at = committed?.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
        return BigInt(at) >= BigInt(high);
      });
      if (!done) still.push(groupId);
    }
    behind = still;
    if (behind.length > 0) await sleep(100);
  }
  return behind;
}

function kafkaDoor(
  contract: EventContract,
  target: FuzzTarget,
  pipelines: LivePipelines,
  kafka: { admin: Admin; producer: Producer },
): LiveDoor<KafkaInput> & { deadLetters: () => Promise<number> } {
  const rewrite = ({ headers, value }: KafkaInput): KafkaInput => ({
    headers,
    value: value === null ? null : Buffer.from(withPipeline(value.toString('latin1'), pipelines.data), 'latin1'),
  });
  let groups: string[] | undefined;
  const dlq = deadLetterTopic(contract.topic);
  const dlqEnd = async () =>
    (await kafka.admin.fetchTopicOffsets(dlq).catch(() => [])).reduce((sum, p) => sum + Number(p.high), 0);
  let dlqStart: number | undefined;
  let groupStart: Ends | undefined;
  const SETTLE_MS = 15_000;
  return {
    name: `kafka ${contract.topic}`,
    owner: 'consumers',
    limit: `KAFKA_MAX_RECORD_BYTES (${LIVE_LIMITS.kafkaRecord.toLocaleString('en-US')}); the broker's message.max.bytes`,
    arbitrary: (target.arbitrary as fc.Arbitrary<KafkaInput>).map(rewrite),
    largest: () =>
      (target.largest() as { label: string; input: KafkaInput }[])
        .map(({ label, input }) => ({ label, input: rewrite(input) }))
        // Over the broker's own limit the record never reaches a consumer (the producer is refused).
        .filter(({ input }) => (input.value?.length ?? 0) < 1_040_000),
    send: async ({ headers, value }) => {
      groups ??= await consumersOf(kafka.admin, contract.topic);
      dlqStart ??= await dlqEnd();
      groupStart ??= await kafka.admin.fetchTopicOffsets(contract.topic);
      try {
        await kafka.producer.send({
          topic: contract.topic,
          messages: [{ key: pipelines.data, value, headers }],
        });
        return 'published';
      } catch (error) {
        return `refused by the broker: ${(error as Error).message.slice(0, 80)}`;
      }
    },
    settle: async () => {
      const before = groupStart ?? [];
      groupStart = undefined;
      const behind = await committedToEnd(kafka.admin, contract.topic, groups ?? [], before, SETTLE_MS);
      // A group stuck on a record (retrying it) is not waited for again in this door: the run must stay short.
      groups = (groups ?? []).filter((group) => !behind.includes(group));
      return behind.length ? `not committed within ${SETTLE_MS / 1000} s by ${behind.join(', ')}` : undefined;
    },
    deadLetters: async () => (dlqStart === undefined ? 0 : (await dlqEnd()) - dlqStart),
  };
}

export interface LiveEndpoints {
  http: Record<string, string>;
  servingGrpc: string;
  registryGrpc: string;
}

/** Every door the live fuzz knocks on, in the order it runs them. */
export function liveDoors(
  targets: FuzzTarget[],
  endpoints: LiveEndpoints,
  pipelines: LivePipelines,
  kafka: { admin: Admin; producer: Producer },
): LiveDoor[] {
  const byName = (name: string) => {
    const found = targets.find((t) => t.name === name);
    if (!found) throw new Error(`no fuzz target ${name}`);
    return found;
  };
  const { http: urls } = endpoints;
  const grpcTarget = byName('oip:grpc ModelInfer') as FuzzTarget<Buffer>;
  return [
    grpcDoor('serving', endpoints.servingGrpc, '/inference.GRPCInferenceService/ModelInfer', LIVE_LIMITS.servingGrpc, {
      arbitrary: grpcTarget.arbitrary,
      largest: grpcTarget.largest,
    }) as LiveDoor,
    ...restDoors(urls.serving, byName('oip:rest JSON'), byName('oip:rest binary extension'), pipelines),
    ...(specDoors(urls.registry, byName('spec:yaml'), byName('spec:json'), pipelines) as LiveDoor[]),
    ...(registryGrpcDoors(endpoints.registryGrpc, pipelines) as LiveDoor[]),
    uploadDoor(urls.ingestion, byName('csv-upload'), pipelines) as LiveDoor,
    jsonBodyDoor('ingestion', 'POST', urls.ingestion, `/api/v1/pipelines/${pipelines.data}/flush`, {}) as LiveDoor,
    // Routes that would start work (a training run, a rollout) name a pipeline that does not exist: the body is
    // parsed all the same before the handler refuses it, and nothing is started.
    jsonBodyDoor('training', 'POST', urls.training, `/api/v1/pipelines/${pipelines.spec}-none/training-requests`, {
      reason: 'fuzz',
    }) as LiveDoor,
    jsonBodyDoor('registry', 'POST', urls.registry, `/api/v1/models/${pipelines.spec}-none/rollouts`, {
      candidate: 1,
      steps: [{ percent: 10, minutes: 5 }],
    }) as LiveDoor,
    readDoor('validation', urls.validation, (id) => `/api/v1/pipelines/${id}/reports`) as LiveDoor,
    readDoor('monitoring', urls.monitoring, (id) => `/api/v1/pipelines/${id}/drift`) as LiveDoor,
    readDoor(
      'training',
      urls.training,
      (id) => `/api/v1/pipelines/${pipelines.data}/training-requests/${id}`,
    ) as LiveDoor,
    ...eventRegistry.map(
      (contract) => kafkaDoor(contract, byName(`kafka:${contract.topic}`), pipelines, kafka) as LiveDoor,
    ),
  ];
}
