import { type ArgumentsHost, Catch, HttpException } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { type Request, type Response } from 'express';

/** The REST binding's routes: KServe's v2 protocol answers every error as `{ "error": "..." }`. */
const OIP_PATH = /^\/v2(\/|$)/;

/** The 4xx status of an error raised before the handler ran (a body that does not parse, is too large or too deep). */
function clientStatusOf(exception: unknown): number | undefined {
  const status =
    exception instanceof HttpException
      ? exception.getStatus()
      : ((exception as { statusCode?: unknown; status?: unknown } | null)?.statusCode ??
        (exception as { status?: unknown } | null)?.status);
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

/**
 * Errors of `/v2` requests that never reached OipRestController (it answers its own): a JSON body that does not
 * parse, one over HTTP_MAX_JSON_BYTES or nested too deep, a refused door. Nest would answer them in its own shape
 * (`{ statusCode, message, error }`), which KServe and Triton clients do not read; here they keep their status and
 * answer `{ "error": "<why>" }`. Every other path, and every server fault, is Nest's default handling.
 */
@Catch()
export class OipRestErrorFilter extends BaseExceptionFilter {
  override catch(exception: unknown, host: ArgumentsHost): void {
    const status = host.getType() === 'http' ? clientStatusOf(exception) : undefined;
    const request = host.switchToHttp().getRequest<Request | undefined>();
    if (status === undefined || !request || !OIP_PATH.test(request.path ?? '')) {
      super.catch(exception, host);
      return;
    }
    const response = host.switchToHttp().getResponse<Response>();
    response.status(status).json({ error: messageOf(exception, status) });
  }
}

function messageOf(exception: unknown, status: number): string {
  const message = exception instanceof Error ? exception.message : '';
  // body-parser's wording for a body that does not parse names JSON but not what was being read.
  if (status === 400 && exception instanceof HttpException && /JSON/.test(message)) {
    return `the request body is not valid JSON: ${message}`;
  }
  return message || `request failed with status ${status}`;
}
