import {
  Client,
  credentials,
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type ServiceError,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  answerMalformedRequests,
  MalformedRequest,
  MAX_STATUS_DETAILS,
  tolerantDeserializers,
} from './malformed-requests';

/** A one-method service whose messages are JSON objects: any other bytes make its deserializer throw. */
const echoDefinition: ServiceDefinition = {
  say: {
    path: '/test.Echo/Say',
    requestStream: false,
    responseStream: false,
    requestSerialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
    requestDeserialize: (bytes: Buffer) => {
      const value = JSON.parse(bytes.toString('utf8')) as unknown;
      if (typeof value !== 'object' || value === null) throw new Error('not an object');
      return value;
    },
    responseSerialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
    responseDeserialize: (bytes: Buffer) => JSON.parse(bytes.toString('utf8')) as unknown,
  },
};

describe('malformed requests', () => {
  it('a request that does not decode becomes a MalformedRequest naming the method and the reason', () => {
    const { say } = tolerantDeserializers(echoDefinition);
    expect(say.requestDeserialize(Buffer.from('{"text":"hi"}'))).toEqual({ text: 'hi' });
    const malformed = say.requestDeserialize(Buffer.from('"hi"'));
    expect(malformed).toBeInstanceOf(MalformedRequest);
    expect((malformed as MalformedRequest).details).toBe(
      'the request is not a valid test.Echo/Say request message: not an object',
    );
  });

  describe('over grpc-js', () => {
    const server = new Server();
    const seen: unknown[] = [];
    let client: Client;

    beforeAll(async () => {
      const implementation: UntypedServiceImplementation = {
        say: (
          call: { request: unknown },
          callback: (error: { code: status; details: string } | null, value?: unknown) => void,
        ) => {
          seen.push(call.request);
          const { text } = call.request as { text: string };
          // An error echoing the request, as handlers' "not found" messages do.
          if (text.length > 100) callback({ code: status.NOT_FOUND, details: `no "${text}"` });
          else callback(null, { said: text });
        },
      };
      server.addService(tolerantDeserializers(echoDefinition), answerMalformedRequests(echoDefinition, implementation));
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
          error ? reject(error) : resolve(bound),
        ),
      );
      client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
    });

    afterAll(() => {
      client?.close();
      server.forceShutdown();
    });

    const send = (bytes: Buffer) =>
      new Promise<{ error: ServiceError | null; value?: unknown }>((resolve) =>
        client.makeUnaryRequest(
          '/test.Echo/Say',
          (value: Buffer) => value,
          (value: Buffer) => JSON.parse(value.toString('utf8')) as unknown,
          bytes,
          (error, value) => resolve({ error, value }),
        ),
      );

    it('answers a malformed request INVALID_ARGUMENT with the reason, without calling the handler', async () => {
      const { error } = await send(Buffer.from('{"text":'));
      expect(error?.code).toBe(status.INVALID_ARGUMENT);
      expect(error?.details).toMatch(/^the request is not a valid test\.Echo\/Say request message: .*JSON/);
      expect(seen).toEqual([]);
    });

    it('cuts a status message that echoes a request of a megabyte, so the status reaches the caller', async () => {
      const { error } = await send(Buffer.from(JSON.stringify({ text: 'x'.repeat(1024 * 1024) })));
      seen.length = 0;
      expect(error?.code).toBe(status.NOT_FOUND);
      expect(error?.details.length).toBeLessThan(MAX_STATUS_DETAILS + 50);
      expect(error?.details).toMatch(/^no "x+… \(1048581 characters\)$/);
    });

    it('hands a well-formed request to the handler', async () => {
      const { error, value } = await send(Buffer.from('{"text":"hi"}'));
      expect(error).toBeNull();
      expect(value).toEqual({ said: 'hi' });
      expect(seen).toEqual([{ text: 'hi' }]);
    });
  });
});
