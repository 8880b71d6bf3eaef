import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InMemoryPipelineStore } from '@keel/testing';
import { type Infrastructure } from '@keel/service-runtime';
import { type WorkerPool } from '@keel/workers';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { PipelinesService } from '../../apps/registry/src/pipelines/pipelines.service';

const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8');

/** The documents of the first YAML block after `heading` in the README. */
function yamlAfter(heading: string): unknown[] {
  const section = readme.slice(readme.indexOf(heading));
  const block = /```yaml\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error(`no YAML block after ${heading}`);
  return parseAllDocuments(block[1]).map((document) => document.toJS() as unknown);
}

describe('README examples', () => {
  it('"Point-in-time joins": the table and the pipeline joining it apply as written, in that order', async () => {
    // The registry's apply (schema, names, joins checked against the table as applied), on an in-memory store.
    const registry = new PipelinesService(
      { pipelines: new InMemoryPipelineStore() } as unknown as Infrastructure,
      {} as WorkerPool,
    );
    const documents = yamlAfter('#### Point-in-time joins') as { id: string; kind: string }[];
    expect(documents.map((document) => document.kind)).toEqual(['FeatureTable', 'Pipeline']);
    for (const document of documents) {
      await expect(registry.apply(document.id, document)).resolves.toMatchObject({ version: 1, created: true });
    }
  });
});
