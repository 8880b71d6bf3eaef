/**
 * `npm run auth:issue-key -- --id <key id> --grant <role:pipeline> [--grant ...] [--file keys.json]`: issues an API
 * key. Prints the key once (hand it to the caller; it is stored nowhere) and adds its digest entry to the key file
 * (created when missing), which services read from AUTH_API_KEYS_FILE. Without --file it prints the entry instead.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type ApiKeyEntry, ApiKeys, issueApiKey } from '@keel/service-runtime';

function main(): void {
  const { values } = parseArgs({
    options: {
      id: { type: 'string' },
      grant: { type: 'string', multiple: true },
      file: { type: 'string' },
    },
  });
  if (!values.id || !values.grant?.length) {
    throw new Error(
      'usage: npm run auth:issue-key -- --id <key id> --grant <role:pipeline> [--grant ...] [--file keys.json]',
    );
  }
  const { key, entry } = issueApiKey(values.id, values.grant);
  if (values.file) {
    const current: { keys: ApiKeyEntry[] } = existsSync(values.file)
      ? (JSON.parse(readFileSync(values.file, 'utf8')) as { keys: ApiKeyEntry[] })
      : { keys: [] };
    if (current.keys.some((existing) => existing.id === entry.id)) {
      throw new Error(`${values.file} already has a key "${entry.id}"; revoke it (delete its entry) first`);
    }
    const next = { keys: [...current.keys, entry] };
    ApiKeys.fromEntries(next.keys, values.file); // the file stays loadable
    // Written beside and renamed, so a service reading the file never sees half of it.
    writeFileSync(`${values.file}.tmp`, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 });
    renameSync(`${values.file}.tmp`, values.file);
    process.stderr.write(`added "${entry.id}" (${entry.grants.join(', ')}) to ${values.file}\n`);
  } else {
    process.stderr.write(`key file entry:\n${JSON.stringify(entry, null, 2)}\n`);
  }
  process.stdout.write(`${key}\n`);
}

try {
  main();
} catch (error) {
  process.stderr.write(`auth:issue-key: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
