/**
 * The secure profile's Kafka permissions (secure-access.ts) stay in step with the code: each service may publish
 * exactly the events its sources publish and consume exactly the topics its sources consume, so a new consumer or
 * event fails here rather than being refused by the broker in the secure profile or in a cluster.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as contracts from '@keel/contracts';
import { type EventContract, eventRegistry } from '@keel/contracts';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './paths';
import { aclsOf, kafkaAccess, SECURE_SERVICES } from './secure-access';

/** The service's own sources: tests and their helpers left out. */
function sources(service: string): string {
  const root = join(repoRoot, 'apps', service, 'src');
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter(
    (file) => file.endsWith('.ts') && !file.includes('.spec.') && !file.includes('test-support'),
  );
  return files.map((file) => readFileSync(join(root, file), 'utf8')).join('\n');
}

/** Each contract's exported name (`DataRecordsV1`), as the sources spell it. */
const exportName = new Map<unknown, string>(
  Object.entries(contracts).flatMap(([name, value]) =>
    eventRegistry.includes(value as EventContract) ? [[value, name] as const] : [],
  ),
);
const namesOf = (list: readonly EventContract[]) => list.map((contract) => exportName.get(contract)).sort();
const matched = (code: string, pattern: RegExp) =>
  [...new Set([...code.matchAll(pattern)].map((m) => m.slice(1).find(Boolean)))].sort();

describe('secure profile: Kafka permissions per service', () => {
  it.each(SECURE_SERVICES.map((service) => [service]))('%s may publish and consume what its code does', (service) => {
    const code = sources(service);
    // `consumer.on(Contract, ...)` through the messaging lib, or a raw kafkajs subscription to `Contract.topic`.
    const consumed = matched(
      code,
      /\.on(?:Batch|PreparedBatch)?\(\s*(\w+V\d+)\b|subscribe\(\{\s*topics:\s*\[(\w+V\d+)\.topic/g,
    );
    const published = matched(code, /publish\w*(?:<[^>]*>)?\(\s*(\w+V\d+)\b/g);
    expect(consumed, `${service} consumes`).toEqual(namesOf(kafkaAccess[service].consumes));
    expect(published, `${service} publishes`).toEqual(namesOf(kafkaAccess[service].produces));
  });

  it('gives every principal DESCRIBE on Keel topics and nothing on topics it neither publishes nor consumes', () => {
    for (const service of SECURE_SERVICES) {
      const acls = aclsOf(service);
      expect(acls).toContainEqual(expect.objectContaining({ resourceName: 'mlops.', operation: 'DESCRIBE' }));
      const { produces, consumes } = kafkaAccess[service];
      const allowed = new Set([
        ...produces.map((c) => c.topic),
        ...consumes.flatMap((c) => [c.topic, `${c.topic}.dlq`]),
      ]);
      for (const acl of acls.filter((a) => a.resourceType === 'TOPIC' && a.patternType === 'LITERAL')) {
        expect(allowed, `${service}: ${acl.operation} ${acl.resourceName}`).toContain(acl.resourceName);
      }
    }
  });
});
