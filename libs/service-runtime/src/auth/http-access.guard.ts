import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type Request, type Response } from 'express';
import { AccessControl } from './access-control';
import { DOOR_RULE, type DoorRule } from './door-rules';
import { type Role } from './roles';

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Registered globally by the runtime, so a new controller is guarded without doing anything. */
@Injectable()
export class HttpAccessGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly access: AccessControl,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const rule = this.reflector.getAllAndOverride<DoorRule | undefined>(DOOR_RULE, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (rule === 'public') return true;
    const request = context.switchToHttp().getRequest<Request>();
    const role: Role = rule ?? (READ_METHODS.has(request.method) ? 'viewer' : 'engineer');
    const params = request.params as Record<string, string | undefined>;
    const routePath = (request.route as { path?: string } | undefined)?.path ?? request.path;
    const decision = await this.access.decide({
      door: `${request.method} ${routePath}`,
      authorization: request.headers.authorization,
      role,
      // Routes name their pipeline `:id`; model routes name the model, whose name is its pipeline's id.
      pipeline: params.id ?? params.name,
    });
    if (decision.allowed) return true;
    if (decision.refusal === 'unauthenticated') {
      context.switchToHttp().getResponse<Response>().setHeader('WWW-Authenticate', 'Bearer realm="keel"');
      throw new UnauthorizedException(`authentication required: ${decision.reason}`);
    }
    throw new ForbiddenException(`${decision.principal?.id ?? 'caller'} ${decision.reason}`);
  }
}
