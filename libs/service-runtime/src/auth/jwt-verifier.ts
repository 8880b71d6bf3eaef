import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import { type Principal } from './principal';
import { parseGrant } from './roles';

export interface JwtVerifierOptions {
  jwksUrl: string;
  issuer: string;
  audience: string;
  /** The claim holding the grants: an array of `role:pipeline` strings or one space-separated string. */
  grantsClaim: string;
}

/** Verified tokens kept so that a client reusing its token costs one map lookup per call, not a signature check. */
const VERIFIED_CACHE_MAX_ENTRIES = 10_000;

/**
 * Bearer tokens from an OIDC provider, verified with jose against the provider's JWKS (fetched and refreshed by jose,
 * including on an unknown key id after rotation), with issuer, audience and expiry checked.
 */
export class JwtVerifier {
  private readonly keys: ReturnType<typeof createRemoteJWKSet>;
  private readonly verified = new Map<string, { principal: Principal; expiresAt: number }>();

  constructor(private readonly options: JwtVerifierOptions) {
    this.keys = createRemoteJWKSet(new URL(options.jwksUrl));
  }

  /** The token's principal; throws `InvalidTokenError` for a token that does not verify. */
  async principalOf(token: string): Promise<Principal> {
    const cached = this.verified.get(token);
    if (cached && cached.expiresAt > Date.now()) return cached.principal;
    if (cached) this.verified.delete(token);
    let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
    try {
      ({ payload } = await jwtVerify(token, this.keys, {
        issuer: this.options.issuer,
        audience: this.options.audience,
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (error) {
      if (error instanceof errors.JOSEError) throw new InvalidTokenError(error.code);
      throw error;
    }
    const principal: Principal = {
      id: String(payload.sub),
      kind: 'jwt',
      grants: grantTexts(payload[this.options.grantsClaim]).flatMap((text) => {
        try {
          return [parseGrant(text)];
        } catch {
          return []; // a claim value this service does not understand grants nothing
        }
      }),
    };
    if (this.verified.size >= VERIFIED_CACHE_MAX_ENTRIES) {
      this.verified.delete(this.verified.keys().next().value as string);
    }
    this.verified.set(token, { principal, expiresAt: Number(payload.exp) * 1000 });
    return principal;
  }
}

export class InvalidTokenError extends Error {
  constructor(readonly code: string) {
    super(`token rejected (${code})`);
  }
}

function grantTexts(claim: unknown): string[] {
  if (typeof claim === 'string') return claim.split(/\s+/).filter(Boolean);
  if (Array.isArray(claim)) return claim.filter((value): value is string => typeof value === 'string');
  return [];
}
