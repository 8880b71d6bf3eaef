import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeCloudEvent, encodeCloudEventHeaders, MalformedEventError } from './cloudevents';
import { allTopics, eventRegistry } from './registry';

const fixturesDir = join(__dirname, 'fixtures');
const fixture = (topic: string): unknown => JSON.parse(readFileSync(join(fixturesDir, `${topic}.json`), 'utf8'));

describe('event registry', () => {
  it('declares each topic once, versioned in its name', () => {
    const topics = eventRegistry.map((contract) => contract.topic);
    expect(new Set(topics).size).toBe(topics.length);
    for (const topic of topics) expect(topic).toMatch(/^mlops\.[a-z-]+\.[a-z-]+\.v\d+$/);
  });

  it('has a golden fixture for every topic and no orphan fixture', () => {
    const files = readdirSync(fixturesDir).map((file) => file.replace(/\.json$/, ''));
    expect(files.sort()).toEqual(eventRegistry.map((contract) => contract.topic).sort());
  });

  describe.each(eventRegistry.map((contract) => [contract.topic, contract] as const))('%s', (_topic, contract) => {
    it('parses its golden fixture', () => {
      const parsed = contract.schema.safeParse(fixture(contract.topic));
      expect(parsed.error?.issues ?? []).toEqual([]);
    });

    it('derives a non-empty record key', () => {
      expect(contract.key(contract.schema.parse(fixture(contract.topic)))).not.toBe('');
    });

    it('keeps the fixture within its size cap (events carry references, not artifacts)', () => {
      expect(JSON.stringify(fixture(contract.topic)).length).toBeLessThan(Math.min(contract.maxBytes, 4096));
    });

    it('rejects an empty object', () => {
      expect(contract.schema.safeParse({}).success).toBe(false);
    });

    it('has a description', () => {
      expect(contract.description.length).toBeGreaterThan(10);
    });
  });

  it('lists a dead-letter topic beside every topic', () => {
    expect(allTopics()).toContain('mlops.dataset.ingested.v1.dlq');
    expect(allTopics()).toHaveLength(eventRegistry.length * 2);
  });
});

describe('CloudEvents Kafka binding', () => {
  const attributes = {
    id: 'evt-1',
    source: '/keel/ingestion',
    type: 'mlops.dataset.ingested.v1',
    specversion: '1.0',
  } as const;

  it('round-trips binary mode', () => {
    const headers = encodeCloudEventHeaders(attributes);
    const decoded = decodeCloudEvent(headers, Buffer.from('{"a":1}'));
    expect(decoded.attributes).toMatchObject(attributes);
    expect(decoded.data).toEqual({ a: 1 });
  });

  it('accepts structured mode', () => {
    const value = Buffer.from(JSON.stringify({ ...attributes, data: { a: 2 } }));
    const decoded = decodeCloudEvent({ 'content-type': 'application/cloudevents+json' }, value);
    expect(decoded.attributes.id).toBe('evt-1');
    expect(decoded.data).toEqual({ a: 2 });
  });

  it.each([
    ['missing ce_id', { ...encodeCloudEventHeaders(attributes), ce_id: undefined }, '{}', /"id"/],
    ['invalid JSON', encodeCloudEventHeaders(attributes), '{"a":', /not valid JSON/],
    ['empty value', encodeCloudEventHeaders(attributes), '', /empty/],
    ['wrong specversion', { ...encodeCloudEventHeaders(attributes), ce_specversion: '0.3' }, '{}', /specversion/],
  ])('rejects %s with a reason', (_name, headers, value, reason) => {
    expect(() => decodeCloudEvent(headers, Buffer.from(value))).toThrow(MalformedEventError);
    expect(() => decodeCloudEvent(headers, Buffer.from(value))).toThrow(reason);
  });
});
