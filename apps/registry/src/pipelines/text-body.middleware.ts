import { Injectable, type NestMiddleware } from '@nestjs/common';
import { text } from 'express';
import { type NextFunction, type Request, type Response } from 'express';

/** Content types a pipeline spec may arrive as text; JSON bodies are parsed by Nest's default JSON parser. */
export const SPEC_TEXT_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain'];

// Nest parses only JSON and urlencoded bodies; YAML specs need the raw text. Scoped to this feature's routes.
const parseText = text({ type: SPEC_TEXT_TYPES, limit: '1mb' });

/** Reads YAML/plain-text request bodies into `req.body` as a string. */
@Injectable()
export class TextBodyMiddleware implements NestMiddleware {
  use(request: Request, response: Response, next: NextFunction): void {
    parseText(request, response, next);
  }
}
