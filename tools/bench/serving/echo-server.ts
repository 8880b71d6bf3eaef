/**
 * The limit of `npm run bench:serving`: a bare grpc-js Open Inference Protocol server that answers ModelInfer with
 * its inputs as outputs and does nothing else. Usage: node -r @swc-node/register echo-server.ts <port>
 */
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import {
  type GRPCInferenceServiceServer,
  GRPCInferenceServiceService,
  type ModelInferRequest,
  type ModelInferResponse,
} from '@keel/grpc-api';

const unimplemented = (_call: unknown, callback: sendUnaryData<never>) =>
  callback({ code: 12, details: 'the echo server answers ModelInfer only' });

const service: GRPCInferenceServiceServer = {
  serverLive: (_call, callback) => callback(null, { live: true }),
  serverReady: (_call, callback) => callback(null, { ready: true }),
  modelReady: (_call, callback) => callback(null, { ready: true }),
  serverMetadata: unimplemented,
  modelMetadata: unimplemented,
  modelInfer: (call: ServerUnaryCall<ModelInferRequest, ModelInferResponse>, callback) => {
    const request = call.request;
    callback(null, {
      modelName: request.modelName,
      modelVersion: '1',
      id: request.id,
      parameters: {},
      outputs: request.inputs.map((input) => ({
        name: input.name,
        datatype: input.datatype,
        shape: input.shape,
        parameters: {},
        contents: input.contents,
      })),
      rawOutputContents: request.rawInputContents,
    });
  },
};

const port = Number(process.argv[2] ?? 18_001);
const server = new Server();
server.addService(GRPCInferenceServiceService, service);
server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error) => {
  if (error) {
    process.stderr.write(`echo server: ${error.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`echo server on 127.0.0.1:${port}\n`);
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
