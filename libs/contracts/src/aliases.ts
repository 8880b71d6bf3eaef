import { z } from 'zod';

/**
 * Aliases Keel itself moves or follows. Any other name matching {@link AliasName} is an alias too (user-defined):
 * the registry stores and moves it, serving resolves requests by it.
 */
export const WellKnownAlias = {
  /** What serves by default: the registry moves it when a version passes its gates and is at least as good. */
  CHAMPION: 'champion',
  /** A candidate under comparison with the champion. */
  CHALLENGER: 'challenger',
  /** A version on trial before it may serve. */
  STAGING: 'staging',
} as const;

/** An alias name: lower case, starts with a letter, letters, digits and dashes, at most 32 characters. */
export const AliasName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'an alias is [a-z][a-z0-9-]{0,31}');
export type AliasName = z.infer<typeof AliasName>;
