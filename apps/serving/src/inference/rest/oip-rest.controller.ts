import { Controller, Get, HttpStatus, Inject, Param, Post, Req, Res } from '@nestjs/common';
import { status } from '@grpc/grpc-js';
import {
  PublicDoor,
  RequiresRole,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  SERVICE_IDENTITY,
  type ServiceIdentity,
} from '@keel/service-runtime';
import { type Request, type Response } from 'express';
import { type Logger } from 'pino';
import { createGunzip, createInflate } from 'node:zlib';
import { type Readable } from 'node:stream';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { type ServingConfig } from '../../config';
import { LoadShedError } from '../admission';
import { OnlineViewOverLimitError } from '../../online/online-views';
import { grpcStatusOf } from '../inference-errors';
import { InferenceService, SERVER_NAME } from '../inference.service';
import { InvalidInferInputError } from '../tensor-codec';
import { decodeRestInferRequest, encodeRestInferResponse, INFERENCE_HEADER_CONTENT_LENGTH } from './rest-codec';

/** Bodies above this size are decoded in a turn of the event loop of their own, before the rest of the call. */
const LARGE_BODY_BYTES = 256 * 1024;

/**
 * HTTP status of a failure by its gRPC code (the Open Inference Protocol's REST binding defines only 4xx/5xx with an
 * `error`; these follow the usual gRPC-to-HTTP mapping), unless `fail` says otherwise for the failure itself.
 */
const HTTP_STATUS: Partial<Record<status, number>> = {
  [status.INVALID_ARGUMENT]: HttpStatus.BAD_REQUEST,
  [status.NOT_FOUND]: HttpStatus.NOT_FOUND,
  [status.RESOURCE_EXHAUSTED]: HttpStatus.TOO_MANY_REQUESTS,
  [status.UNAVAILABLE]: HttpStatus.SERVICE_UNAVAILABLE,
};

/**
 * The Open Inference Protocol's REST binding (KServe v2) beside the gRPC one, over the same InferenceService: health,
 * server and model metadata, model readiness and infer, each model route also per version
 * (`/v2/models/<name>/versions/<version or alias>`). Errors are `{ "error": "..." }` with 400 for the caller's
 * mistakes, 404 for a model or version not served here (503 while it is still loading), 413 for a body over
 * HTTP_MAX_JSON_BYTES, 429 with Retry-After when admission control sheds the call (too many in flight, or serving
 * running too far behind), 503 while a joined table's online view is not loaded, 507 when it is over serving's memory
 * limits, 500 otherwise; those
 * raised before a handler runs (a JSON body that does not parse) get the same shape from OipRestErrorFilter.
 */
@RequiresRole('inference')
@Controller('v2')
export class OipRestController {
  private readonly logger: Logger;

  constructor(
    private readonly inference: InferenceService,
    @Inject(SERVICE_IDENTITY) private readonly identity: ServiceIdentity,
    @Inject(SERVICE_CONFIG) private readonly config: ServingConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'inference-rest' });
  }

  @Get()
  serverMetadata(): object {
    return { name: SERVER_NAME, version: this.identity.version, extensions: ['binary_tensor_data'] };
  }

  @PublicDoor()
  @Get('health/live')
  live(): object {
    return { live: true };
  }

  @PublicDoor()
  @Get('health/ready')
  ready(@Res() response: Response): void {
    const ready = this.inference.isServerReady();
    response.status(ready ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE).json({ ready });
  }

  @Get('models/:name')
  modelMetadata(@Param('name') name: string, @Res() response: Response): void {
    this.answer(response, () => this.inference.metadata(name, ''));
  }

  @Get('models/:name/versions/:version')
  versionMetadata(@Param('name') name: string, @Param('version') version: string, @Res() response: Response): void {
    this.answer(response, () => this.inference.metadata(name, version));
  }

  @Get('models/:name/ready')
  modelReady(@Param('name') name: string, @Res() response: Response): void {
    this.readiness(response, name, '');
  }

  @Get('models/:name/versions/:version/ready')
  versionReady(@Param('name') name: string, @Param('version') version: string, @Res() response: Response): void {
    this.readiness(response, name, version);
  }

  @Post('models/:name/infer')
  async infer(@Param('name') name: string, @Req() request: Request, @Res() response: Response): Promise<void> {
    await this.inferOn(name, '', request, response);
  }

  @Post('models/:name/versions/:version/infer')
  async inferVersion(
    @Param('name') name: string,
    @Param('version') version: string,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    await this.inferOn(name, version, request, response);
  }

  private readiness(response: Response, name: string, version: string): void {
    const ready = this.inference.isModelReady(name, version);
    response
      .status(ready ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE)
      .json({ name, ...(version ? { version } : {}), ready });
  }

  private async inferOn(name: string, version: string, request: Request, response: Response): Promise<void> {
    await this.answerAsync(response, async () => {
      const headerLength = request.headers[INFERENCE_HEADER_CONTENT_LENGTH];
      // JSON bodies arrive parsed (HTTP_MAX_JSON_BYTES); binary-extension and compressed bodies are read here.
      const body =
        request.body !== undefined && !Buffer.isBuffer(request.body) && headerLength === undefined
          ? (request.body as unknown)
          : await this.readBody(request);
      const split = headerLength === undefined ? undefined : Number(headerLength);
      if (split !== undefined && (!Number.isInteger(split) || split < 0)) {
        throw new InvalidInferInputError(`Inference-Header-Content-Length must be a byte count, not "${headerLength}"`);
      }
      const decoded = decodeRestInferRequest(body, { modelName: name, modelVersion: version }, split);
      // A body near the limit took this turn to parse and decode (~15 ms of CPU at 1 MiB): others run before its
      // inputs are decoded and scored (in chunks), so no one turn holds the loop for the whole request.
      if (Number(request.headers['content-length'] ?? 0) > LARGE_BODY_BYTES) await yieldToLoop();
      const answer = encodeRestInferResponse(await this.inference.infer(decoded.request), decoded.binaryOutputs);
      if (!answer.binary) return answer.json;
      const header = Buffer.from(JSON.stringify(answer.json), 'utf8');
      response
        .status(HttpStatus.OK)
        .setHeader('Inference-Header-Content-Length', String(header.length))
        .contentType('application/octet-stream')
        .send(Buffer.concat([header, ...answer.binary]));
      return undefined;
    });
  }

  /**
   * Reads a body that was not parsed as JSON, bounded by HTTP_MAX_JSON_BYTES (after decompression, so a small gzip
   * cannot expand without limit); Content-Encoding gzip or deflate is accepted, as tritonclient may send.
   */
  private async readBody(request: Request): Promise<Buffer> {
    const limit = this.config.HTTP_MAX_JSON_BYTES;
    const encoding = (request.headers['content-encoding'] ?? 'identity').toLowerCase();
    let stream: Readable = request;
    if (encoding === 'gzip') stream = request.pipe(createGunzip());
    else if (encoding === 'deflate') stream = request.pipe(createInflate());
    else if (encoding !== 'identity') throw new InvalidInferInputError(`unsupported Content-Encoding "${encoding}"`);
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of stream) {
        size += (chunk as Buffer).length;
        if (size > limit) {
          request.resume(); // drain the rest, so the client reads its 413
          throw new PayloadTooLarge(`the request body exceeds ${limit} bytes (HTTP_MAX_JSON_BYTES)`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (error) {
      if (error instanceof PayloadTooLarge) throw error;
      throw new InvalidInferInputError(
        `the request body could not be read as ${encoding}: ${(error as Error).message}`,
      );
    }
    return Buffer.concat(chunks);
  }

  private answer(response: Response, handle: () => object): void {
    try {
      response.status(HttpStatus.OK).json(handle());
    } catch (error) {
      this.fail(response, error);
    }
  }

  private async answerAsync(response: Response, handle: () => Promise<object | undefined>): Promise<void> {
    try {
      const body = await handle();
      if (body !== undefined) response.status(HttpStatus.OK).json(body);
    } catch (error) {
      this.fail(response, error);
    }
  }

  private fail(response: Response, error: unknown): void {
    if (error instanceof PayloadTooLarge) {
      response.status(HttpStatus.PAYLOAD_TOO_LARGE).json({ error: error.message });
      return;
    }
    const code = grpcStatusOf(error);
    // A view over serving's memory limits is RESOURCE_EXHAUSTED as gRPC's "out of space", not its "over quota": 507
    // (the server cannot hold what the call needs) rather than the 429 of load shedding, which invites a retry that
    // cannot help until the limit or the view changes.
    const httpStatus =
      error instanceof OnlineViewOverLimitError
        ? HttpStatus.INSUFFICIENT_STORAGE
        : (HTTP_STATUS[code] ?? HttpStatus.INTERNAL_SERVER_ERROR);
    if (httpStatus === HttpStatus.INTERNAL_SERVER_ERROR) this.logger.error({ err: error }, 'inference call failed');
    if (error instanceof LoadShedError) response.setHeader('Retry-After', String(Math.ceil(error.retryAfterMs / 1000)));
    response
      .status(httpStatus)
      .json({ error: httpStatus === HttpStatus.INTERNAL_SERVER_ERROR ? 'internal error' : (error as Error).message });
  }
}

class PayloadTooLarge extends Error {}
