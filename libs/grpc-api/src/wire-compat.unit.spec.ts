import { join } from 'node:path';
import { credentials, loadPackageDefinition, Server, ServerCredentials, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GRPCInferenceServiceServer,
  GRPCInferenceServiceService,
  type ModelInferRequest,
  ModelInferResponse,
} from './index';

const PROTO = join(__dirname, '..', '..', '..', 'proto', 'inference', 'grpc_predict_v2.proto');

type Stub = Record<
  string,
  (request: object, callback: (error: ServiceError | null, response: never) => void) => void
> & {
  close(): void;
};

describe('generated OIP server against a client loaded from the .proto (snake_case, as grpcurl and tritonclient)', () => {
  const server = new Server();
  let received: ModelInferRequest | undefined;
  let stub: Stub;

  beforeAll(async () => {
    const unimplemented = () => {
      throw new Error('not called');
    };
    const implementation: GRPCInferenceServiceServer = {
      serverLive: unimplemented,
      serverReady: unimplemented,
      modelReady: unimplemented,
      serverMetadata: unimplemented,
      modelMetadata: unimplemented,
      modelInfer: ({ request }, callback) => {
        received = request;
        callback(
          null,
          ModelInferResponse.fromPartial({
            modelName: request.modelName,
            modelVersion: '7',
            id: request.id,
            outputs: [{ name: 'probability', datatype: 'FP64', shape: [2], contents: { fp64Contents: [0.25, 0.75] } }],
          }),
        );
      },
    };
    server.addService(GRPCInferenceServiceService, implementation);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    const definition = loadSync(PROTO, { keepCase: true, longs: Number, defaults: true, oneofs: true });
    const proto = loadPackageDefinition(definition) as unknown as {
      inference: { GRPCInferenceService: new (address: string, creds: unknown) => Stub };
    };
    stub = new proto.inference.GRPCInferenceService(`127.0.0.1:${port}`, credentials.createInsecure());
  });

  afterAll(() => {
    stub?.close();
    server.forceShutdown();
  });

  it('given a snake_case request, then the server reads every field, and the client reads the answer', async () => {
    const raw = Buffer.alloc(8);
    raw.writeDoubleLE(39);
    const response = await new Promise<Record<string, unknown>>((resolve, reject) =>
      stub.ModelInfer(
        {
          model_name: 'adult-income',
          model_version: 'challenger',
          id: 'req-1',
          inputs: [
            { name: 'age', datatype: 'FP64', shape: [1] },
            { name: 'sex', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from('Male')] } },
            { name: 'n', datatype: 'INT64', shape: [2], contents: { int64_contents: [3, 2 ** 40] } },
          ],
          outputs: [{ name: 'probability' }],
          raw_input_contents: [raw],
        },
        (error, answer) => (error ? reject(error) : resolve(answer)),
      ),
    );
    expect(received).toMatchObject({
      modelName: 'adult-income',
      modelVersion: 'challenger',
      id: 'req-1',
      inputs: [
        { name: 'age', datatype: 'FP64', shape: [1] },
        { name: 'sex', datatype: 'BYTES', shape: [1], contents: { bytesContents: [Buffer.from('Male')] } },
        { name: 'n', datatype: 'INT64', shape: [2], contents: { int64Contents: [3, 2 ** 40] } },
      ],
      outputs: [{ name: 'probability' }],
    });
    expect(Buffer.from(received!.rawInputContents[0]).readDoubleLE(0)).toBe(39);
    expect(response).toMatchObject({
      model_name: 'adult-income',
      model_version: '7',
      id: 'req-1',
      outputs: [{ name: 'probability', datatype: 'FP64', shape: [2], contents: { fp64_contents: [0.25, 0.75] } }],
    });
  });
});
