import { type Grant, grantAllows, type Role } from './roles';

/** Who is calling: from an API key, a verified token, or (dev profile without authentication) nobody in particular. */
export interface Principal {
  /** The key's id or the token's subject; logged with every denied call. */
  id: string;
  kind: 'api-key' | 'jwt' | 'open-dev';
  grants: readonly Grant[];
}

export function principalAllows(principal: Principal, role: Role, pipeline: string | undefined): boolean {
  return principal.grants.some((grant) => grantAllows(grant, role, pipeline));
}
