import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { type Principal } from './principal';
import { parseGrant } from './roles';

/**
 * API keys for applications and automation. The file (mounted from a secret) holds only SHA-256 digests of the keys,
 * so reading it reveals no credential; a presented key is hashed and looked up. Keys are 32 random bytes, so a plain
 * digest (no salt, no slow hash) cannot be brute-forced, and the lookup costs one hash per call.
 */
const apiKeyFileSchema = z.object({
  keys: z
    .array(
      z.object({
        id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/, 'a key id is 1-128 letters, digits, . _ @ -'),
        sha256: z.string().regex(/^[0-9a-f]{64}$/, 'the SHA-256 digest of the key, 64 lower-case hex characters'),
        grants: z.array(z.string()).min(1),
      }),
    )
    .max(10_000),
});

export type ApiKeyEntry = z.infer<typeof apiKeyFileSchema>['keys'][number];

const KEY_PREFIX = 'keel_';

export function digestApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new key and the entry that admits it; the key is shown once and never stored. */
export function issueApiKey(id: string, grants: readonly string[]): { key: string; entry: ApiKeyEntry } {
  grants.forEach(parseGrant);
  const key = KEY_PREFIX + randomBytes(32).toString('base64url');
  return { key, entry: { id, sha256: digestApiKey(key), grants: [...grants] } };
}

export class ApiKeys {
  private constructor(private readonly byDigest: ReadonlyMap<string, Principal>) {}

  /** Reads and validates the key file; every problem names the file and the entry. */
  static fromFile(path: string): ApiKeys {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (error) {
      throw new Error(`cannot read API keys from ${path}: ${error instanceof Error ? error.message : String(error)}`);
    }
    const result = apiKeyFileSchema.safeParse(parsed);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new Error(`API keys in ${path}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
    return ApiKeys.fromEntries(result.data.keys, path);
  }

  static fromEntries(entries: readonly ApiKeyEntry[], source = 'API keys'): ApiKeys {
    const byDigest = new Map<string, Principal>();
    for (const [i, entry] of entries.entries()) {
      try {
        byDigest.set(entry.sha256, { id: entry.id, kind: 'api-key', grants: entry.grants.map(parseGrant) });
      } catch (error) {
        throw new Error(
          `${source}: keys.${i} (${entry.id}): ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    return new ApiKeys(byDigest);
  }

  /** The key's principal, or undefined for a key nobody issued. */
  principalOf(key: string): Principal | undefined {
    return this.byDigest.get(digestApiKey(key));
  }
}
