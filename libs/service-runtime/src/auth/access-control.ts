import { Inject, Injectable } from '@nestjs/common';
import { ConfigError, type PlatformConfig } from '@keel/config';
import { Counter } from 'prom-client';
import { type Logger } from 'pino';
import { ROOT_LOGGER } from '../infrastructure/logger.token';
import { MetricsService } from '../metrics/metrics.service';
import { SERVICE_CONFIG } from '../tokens';
import { ApiKeys } from './api-keys';
import { InvalidTokenError, JwtVerifier } from './jwt-verifier';
import { type Principal, principalAllows } from './principal';
import { ANY_PIPELINE, type Role, roles } from './roles';

export type AccessDecision =
  | { allowed: true; principal: Principal }
  | { allowed: false; refusal: 'unauthenticated' | 'forbidden'; reason: string; principal?: Principal };

/** A door: an HTTP route or a gRPC method, named by its pattern so the label set stays small. */
export interface DoorCall {
  door: string;
  authorization: string | undefined;
  role: Role;
  /** The pipeline the call concerns; undefined for doors across pipelines (they need the role on `*`). */
  pipeline: string | undefined;
}

const OPEN_DEV_PRINCIPAL: Principal = {
  id: 'anonymous (dev profile, authentication off)',
  kind: 'open-dev',
  grants: roles.map((role) => ({ role, pipeline: ANY_PIPELINE })),
};

/**
 * The one place that decides whether a call may pass a door: HTTP routes (through the guard) and gRPC methods
 * (through the gRPC server) both ask here. Authentication is on when API keys or a JWKS are configured, always in the
 * prod profile (the config refuses to start without one); the dev profile without either leaves every door open and
 * says so at start-up. Every refusal is logged with the principal and counted.
 */
@Injectable()
export class AccessControl {
  readonly enforcing: boolean;
  private readonly apiKeys?: ApiKeys;
  private readonly jwt?: JwtVerifier;
  private readonly denied: Counter<'door' | 'refusal'>;

  constructor(
    @Inject(SERVICE_CONFIG) config: PlatformConfig,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
    metrics: MetricsService,
  ) {
    if (config.AUTH_API_KEYS_FILE) {
      try {
        this.apiKeys = ApiKeys.fromFile(config.AUTH_API_KEYS_FILE);
      } catch (error) {
        throw new ConfigError([
          { variable: 'AUTH_API_KEYS_FILE', problem: error instanceof Error ? error.message : String(error) },
        ]);
      }
    }
    if (config.AUTH_JWKS_URL && config.AUTH_JWT_ISSUER && config.AUTH_JWT_AUDIENCE) {
      this.jwt = new JwtVerifier({
        jwksUrl: config.AUTH_JWKS_URL,
        issuer: config.AUTH_JWT_ISSUER,
        audience: config.AUTH_JWT_AUDIENCE,
        grantsClaim: config.AUTH_JWT_GRANTS_CLAIM,
      });
    }
    this.enforcing = this.apiKeys !== undefined || this.jwt !== undefined;
    this.denied = new Counter({
      name: 'keel_auth_denied_total',
      help: 'Calls refused at a door, by door and refusal (unauthenticated, forbidden)',
      labelNames: ['door', 'refusal'],
      registers: [metrics.registry],
    });
    if (!this.enforcing) {
      logger.warn(
        'KEEL_PROFILE=dev without AUTH_API_KEYS_FILE or AUTH_JWKS_URL: every HTTP and gRPC door is open to anyone who ' +
          'can reach it. Keep this instance on loopback, or configure authentication.',
      );
    }
  }

  async decide(call: DoorCall): Promise<AccessDecision> {
    const decision = await this.evaluate(call);
    if (!decision.allowed) {
      this.denied.inc({ door: call.door, refusal: decision.refusal });
      this.logger.warn(
        {
          door: call.door,
          principal: decision.principal?.id ?? null,
          role: call.role,
          pipeline: call.pipeline ?? ANY_PIPELINE,
          refusal: decision.refusal,
          reason: decision.reason,
        },
        'access denied',
      );
    }
    return decision;
  }

  private async evaluate({ authorization, role, pipeline }: DoorCall): Promise<AccessDecision> {
    if (!this.enforcing) return { allowed: true, principal: OPEN_DEV_PRINCIPAL };
    const authenticated = await this.authenticate(authorization);
    if ('refusal' in authenticated) return { allowed: false, ...authenticated };
    const { principal } = authenticated;
    if (principalAllows(principal, role, pipeline)) return { allowed: true, principal };
    return {
      allowed: false,
      refusal: 'forbidden',
      principal,
      reason: `needs ${role} on ${pipeline ?? 'every pipeline'}`,
    };
  }

  private async authenticate(
    authorization: string | undefined,
  ): Promise<{ principal: Principal } | { refusal: 'unauthenticated'; reason: string }> {
    if (!authorization) return { refusal: 'unauthenticated', reason: 'no credentials' };
    const match = /^Bearer\s+(\S{1,8192})$/i.exec(authorization);
    if (!match) return { refusal: 'unauthenticated', reason: 'not a bearer credential' };
    const token = match[1];
    if (token.startsWith('keel_')) {
      const principal = this.apiKeys?.principalOf(token);
      return principal ? { principal } : { refusal: 'unauthenticated', reason: 'unknown API key' };
    }
    if (!this.jwt) return { refusal: 'unauthenticated', reason: 'tokens are not accepted here (no JWKS configured)' };
    try {
      return { principal: await this.jwt.principalOf(token) };
    } catch (error) {
      if (error instanceof InvalidTokenError) return { refusal: 'unauthenticated', reason: error.message };
      throw error;
    }
  }
}
