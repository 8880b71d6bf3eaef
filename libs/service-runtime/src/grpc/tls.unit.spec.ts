import { join } from 'node:path';
import { type ChannelCredentials, makeGenericClientConstructor, Server, status } from '@grpc/grpc-js';
import { ConfigError } from '@keel/config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grpcChannelCredentials, grpcServerCredentials, type GrpcTlsConfig } from './tls';

// Certificates made by testdata/generate.sh: a CA, a server certificate for 127.0.0.1 and a client one it signed,
// and a client certificate from another CA.
const file = (name: string) => join(__dirname, 'testdata', name);
const serverTls: GrpcTlsConfig = { GRPC_TLS_CERT_FILE: file('server.crt'), GRPC_TLS_KEY_FILE: file('server.key') };
const mutualTls: GrpcTlsConfig = { ...serverTls, GRPC_TLS_CA_FILE: file('ca.crt') };
const clientOf = (cert: string): GrpcTlsConfig => ({
  GRPC_TLS_CERT_FILE: file(`${cert}.crt`),
  GRPC_TLS_KEY_FILE: file(`${cert}.key`),
  GRPC_TLS_CA_FILE: file('ca.crt'),
});

const identity = (bytes: Buffer) => bytes;
const echo = {
  echo: {
    path: '/keel.test.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
const EchoClient = makeGenericClientConstructor(echo, 'Echo');

async function serve(config: GrpcTlsConfig): Promise<{ server: Server; address: string }> {
  const server = new Server();
  server.addService(echo, {
    echo: (call: { request: Buffer }, done: (e: null, r: Buffer) => void) => done(null, call.request),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpcServerCredentials(config), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return { server, address: `127.0.0.1:${port}` };
}

/** One call's outcome: the echoed text, or the status code it failed with. */
function call(address: string, credentials: ChannelCredentials): Promise<string | status> {
  const client = new EchoClient(address, credentials);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      echo.echo.path,
      identity,
      identity,
      Buffer.from('ping'),
      { deadline: Date.now() + 5_000 },
      (error: { code: status } | null, response?: Buffer) => {
        client.close();
        resolve(error ? error.code : String(response));
      },
    );
  });
}

describe('gRPC with mutual TLS (a certificate, its key and a CA bundle)', () => {
  let mutual: { server: Server; address: string };
  beforeAll(async () => {
    mutual = await serve(mutualTls);
  });
  afterAll(() => mutual.server.forceShutdown());

  it('answers a client that presents a certificate signed by the CA', async () => {
    expect(await call(mutual.address, grpcChannelCredentials(clientOf('client')))).toBe('ping');
  });

  it('refuses a client without a certificate, one signed by another CA, and a plaintext one', async () => {
    const tlsWithoutCertificate = grpcChannelCredentials({ GRPC_TLS_CA_FILE: file('ca.crt') });
    expect(await call(mutual.address, tlsWithoutCertificate)).toBe(status.UNAVAILABLE);
    expect(await call(mutual.address, grpcChannelCredentials(clientOf('stranger')))).toBe(status.UNAVAILABLE);
    expect(await call(mutual.address, grpcChannelCredentials({}))).toBe(status.UNAVAILABLE);
  });
});

describe('gRPC with server TLS only (a certificate and its key)', () => {
  it('answers TLS clients that trust its CA, with or without a certificate, and refuses plaintext', async () => {
    const { server, address } = await serve(serverTls);
    try {
      expect(await call(address, grpcChannelCredentials({ GRPC_TLS_CA_FILE: file('ca.crt') }))).toBe('ping');
      expect(await call(address, grpcChannelCredentials(clientOf('client')))).toBe('ping');
      expect(await call(address, grpcChannelCredentials({}))).toBe(status.UNAVAILABLE);
    } finally {
      server.forceShutdown();
    }
  });
});

describe('gRPC TLS configuration', () => {
  it('serves plaintext when nothing is set', async () => {
    const { server, address } = await serve({});
    try {
      expect(await call(address, grpcChannelCredentials({}))).toBe('ping');
    } finally {
      server.forceShutdown();
    }
  });

  it('fails at start-up naming the variable whose file is missing or holds no PEM', () => {
    const missing = () => grpcServerCredentials({ ...serverTls, GRPC_TLS_KEY_FILE: file('absent.key') });
    expect(missing).toThrow(ConfigError);
    expect(missing).toThrow(/GRPC_TLS_KEY_FILE/);
    expect(() => grpcChannelCredentials({ GRPC_TLS_CA_FILE: file('generate.sh') })).toThrow(/GRPC_TLS_CA_FILE.*no PEM/);
  });
});
