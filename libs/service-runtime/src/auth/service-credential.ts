import { readFileSync } from 'node:fs';
import { ConfigError } from '@keel/config';

/**
 * The `authorization` value a service sends when it calls another one: its own API key, read once at start-up from
 * SERVICE_API_KEY_FILE (mounted from a secret, never an environment value that process listings would show).
 */
export function serviceAuthorization(config: { SERVICE_API_KEY_FILE?: string }): string | undefined {
  if (!config.SERVICE_API_KEY_FILE) return undefined;
  let key: string;
  try {
    key = readFileSync(config.SERVICE_API_KEY_FILE, 'utf8').trim();
  } catch (error) {
    throw new ConfigError([
      { variable: 'SERVICE_API_KEY_FILE', problem: error instanceof Error ? error.message : String(error) },
    ]);
  }
  if (!/^keel_[A-Za-z0-9_-]{20,200}$/.test(key)) {
    throw new ConfigError([{ variable: 'SERVICE_API_KEY_FILE', problem: 'does not hold a Keel API key (keel_...)' }]);
  }
  return `Bearer ${key}`;
}
