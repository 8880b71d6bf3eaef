import { SetMetadata } from '@nestjs/common';
import { type Role } from './roles';

export const DOOR_RULE = Symbol('keel:door-rule');
export type DoorRule = Role | 'public';

/**
 * The role an HTTP route (or every route of a controller) needs, scoped to the route's `:id` or `:name` pipeline.
 * Without it, reads (GET, HEAD) need `viewer` and everything else `engineer`.
 */
export const RequiresRole = (role: Role) => SetMetadata(DOOR_RULE, role satisfies DoorRule);

/** A route anyone may call: only liveness and readiness probes. */
export const PublicDoor = () => SetMetadata(DOOR_RULE, 'public' satisfies DoorRule);
