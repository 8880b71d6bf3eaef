import { InvalidPipelineSpecError, parseSpecDocument } from '@keel/pipelines';
import { featureTableFixture, joiningPipelineFixture } from '@keel/testing';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { checkedSpecDocument, UNUSABLE_COLUMN_NAMES } from './spec-names';

const table = featureTableFixture({ id: 'customer-features' });
/** Churn from tenure and balance, keyed by customer_id at event_time; no joins (each case adds what it needs). */
const model = { ...joiningPipelineFixture({ id: 'churn', table, joined: ['balance'] }), joins: undefined };

const NAME = '__proto__';
const why = `"${NAME}" ${UNUSABLE_COLUMN_NAMES.get(NAME)}`;
const dropped = `"${NAME}" cannot be a key: reading the spec would drop it without a word`;

/** The issues a document is refused with (none: it was accepted). */
function issuesOf(document: unknown): readonly string[] {
  try {
    checkedSpecDocument(document);
    return [];
  } catch (error) {
    if (error instanceof InvalidPipelineSpecError) return error.issues;
    throw error;
  }
}

/** A document as the registry gets it: a JSON body (JSON.parse keeps `__proto__` a key), or YAML text. */
const asJson = (document: object): unknown => JSON.parse(JSON.stringify(document).replaceAll('"proto"', `"${NAME}"`));
const asYaml = (document: object): string => stringify(asJson(document));

describe('checkedSpecDocument: column names no dataset can carry', () => {
  // Each place a spec names a column, the name `proto` standing for __proto__ (see asJson), with the paths refused.
  const places: [string, object, string[]][] = [
    ['a feature', { ...model, features: [...model.features, { name: 'proto', type: 'numeric' }] }, ['features.2.name']],
    ['the target', { ...model, target: { column: 'proto', positive: 'yes' } }, ['target.column']],
    ['the time column', { ...model, timeColumn: 'proto' }, ['timeColumn']],
    ['an entity column', { ...model, entityColumns: ['proto'] }, ['entityColumns.0']],
    ['a protected attribute', { ...model, protectedAttributes: ['proto'] }, ['protectedAttributes.0']],
    [
      "a join's key, feature time and created time",
      {
        ...model,
        entityColumns: ['customer_id', 'proto'],
        joins: [
          {
            pipeline: 'customer-features',
            entityKey: 'proto',
            featureTime: 'proto',
            createdTime: 'proto',
            features: ['balance'],
          },
        ],
      },
      ['entityColumns.1', 'joins.0.entityKey', 'joins.0.featureTime', 'joins.0.createdTime'],
    ],
    [
      'a joined feature',
      {
        ...model,
        features: [...model.features, { name: 'proto', type: 'numeric' }],
        joins: [{ pipeline: 'customer-features', entityKey: 'customer_id', features: ['balance', 'proto'] }],
      },
      ['features.2.name', 'joins.0.features.1'],
    ],
    [
      "a fairness gate's and a bias check's attribute",
      {
        ...model,
        protectedAttributes: ['proto'],
        fairnessGates: [{ attribute: 'proto', metric: 'demographic_parity_ratio', min: 0.8 }],
        validation: { bias: [{ attribute: 'proto', metric: 'class_imbalance', warn: 0.5 }] },
      },
      ['protectedAttributes.0', 'fairnessGates.0.attribute', 'validation.bias.0.attribute'],
    ],
    ["a table's feature", { ...table, features: [{ name: 'proto', type: 'categorical' }] }, ['features.0.name']],
    ["a table's time column", { ...table, timeColumn: 'proto' }, ['timeColumn']],
    ["a table's entity column", { ...table, entityColumns: ['proto'] }, ['entityColumns.0']],
    ["a table's created time", { ...table, createdTimeColumn: 'proto' }, ['createdTimeColumn']],
  ];

  it.each(places)('refuses %s named __proto__, each path with why (JSON body and YAML text alike)', (_, doc, paths) => {
    const expected = paths.map((path) => `${path}: ${why}`);
    expect([...issuesOf(asJson(doc))].sort()).toEqual(expected.sort());
    expect([...issuesOf(asYaml(doc))].sort()).toEqual(expected.sort());
  });

  it('refuses a __proto__ key, which validating the document would drop (a shift or drift test, a parameter)', () => {
    const doc = {
      ...model,
      validation: { shift: { columns: { proto: { action: 'reject' }, tenure: { action: 'reject' } } } },
      monitoring: { drift: { features: { proto: { statistic: 'psi' } } } },
      sources: [{ kind: 'http', id: 'api', url: 'https://example.com/rows', params: { proto: 'x', page: '1' } }],
    };
    // In the document's order (the spec's: sources, validation, monitoring).
    const expected = [
      `sources.0.params.${NAME}: ${dropped} (a JavaScript object takes it as its prototype)`,
      `validation.shift.columns.${NAME}: ${dropped} (a JavaScript object takes it as its prototype)`,
      `monitoring.drift.features.${NAME}: ${dropped} (a JavaScript object takes it as its prototype)`,
    ];
    expect(issuesOf(asJson(doc))).toEqual(expected);
    expect(issuesOf(asYaml(doc))).toEqual(expected);
    // Without the check the schema accepts it, the key gone: the test of that column would vanish unsaid.
    const accepted = parseSpecDocument(asJson(doc));
    expect(accepted.validation.shift?.columns).toEqual({ tenure: { action: 'reject' } });
  });

  it("reports a dropped key beside the schema's own issues, in one answer", () => {
    const doc = { ...model, timeColumn: 'event time', validation: { shift: { columns: { proto: {} } } } };
    expect(issuesOf(asJson(doc))).toEqual([
      'timeColumn: must be a simple column name',
      `validation.shift.columns.${NAME}: ${dropped} (a JavaScript object takes it as its prototype)`,
    ]);
  });

  it("leaves a source's cleaning to its schema, which refuses a __proto__ field itself", () => {
    const doc = {
      ...model,
      sources: [{ kind: 'http', id: 'api', url: 'https://x.example', cleaning: { trim: ['proto'] } }],
    };
    expect(issuesOf(asJson(doc))).toEqual(['sources.0.cleaning.trim.0: is not a usable field name']);
  });

  it('accepts names that arrive on every path: constructor, prototype, toString, names differing only by case', () => {
    const doc = {
      ...model,
      features: ['constructor', 'prototype', 'toString', 'hasOwnProperty', 'Balance', 'balance'].map((name) => ({
        name,
        type: 'categorical',
      })),
      entityColumns: ['valueOf'],
    };
    expect(issuesOf(asJson(doc))).toEqual([]);
    expect(issuesOf(asYaml(doc))).toEqual([]);
  });

  it('refuses empty names and names with spaces by the schema already (a stored spec cannot hold one)', () => {
    for (const name of ['', 'balance ', ' balance', 'bal ance']) {
      expect(issuesOf({ ...model, features: [{ name, type: 'numeric' }] })).toEqual([
        'features.0.name: must be a simple column name',
      ]);
    }
  });

  it('is not part of the schema: a spec stored with a __proto__ column by an earlier build still reads', () => {
    const stored = JSON.stringify(asJson({ ...model, features: [{ name: 'proto', type: 'numeric' }] }));
    expect(parseSpecDocument(JSON.parse(stored)).features.map((feature) => feature.name)).toEqual([NAME]);
  });
});
