/**
 * Who may do what, per pipeline. A grant is a role on one pipeline or on every pipeline (`*`); a principal holds a
 * list of grants, written `role:pipeline` in API-key files and token claims (`deployer:adult-income`, `viewer:*`).
 */
export const roles = ['viewer', 'engineer', 'deployer', 'inference', 'admin'] as const;
export type Role = (typeof roles)[number];

/** Every pipeline. */
export const ANY_PIPELINE = '*';

export interface Grant {
  role: Role;
  pipeline: string;
}

/**
 * The roles a role includes. Engineers (specs, data, training requests) and deployers (promote, roll back, rollouts)
 * read what they steer; inference is kept apart so that an application's key can call models and nothing else.
 */
const included: Record<Role, readonly Role[]> = {
  viewer: ['viewer'],
  engineer: ['engineer', 'viewer'],
  deployer: ['deployer', 'viewer'],
  inference: ['inference'],
  admin: roles,
};

export function grantAllows(grant: Grant, role: Role, pipeline: string | undefined): boolean {
  if (!included[grant.role].includes(role)) return false;
  // A door that names no pipeline (a listing, the metrics) needs the role on every pipeline.
  return grant.pipeline === ANY_PIPELINE || (pipeline !== undefined && grant.pipeline === pipeline);
}

const grantPattern = /^([a-z]+):([A-Za-z0-9][A-Za-z0-9._-]{0,127}|\*)$/;

/** Parses `role:pipeline`; throws with the offending text so a bad key file or token claim is named. */
export function parseGrant(text: string): Grant {
  const match = grantPattern.exec(text);
  if (!match || !(roles as readonly string[]).includes(match[1])) {
    throw new Error(
      `"${text.slice(0, 200)}" is not a grant: expected <role>:<pipeline id or *>, role one of ${roles.join(', ')}`,
    );
  }
  return { role: match[1] as Role, pipeline: match[2] };
}
