import { isFeatureTable, type PipelineSpec } from '@keel/contracts';
import { InvalidPipelineSpecError, readSpecDocument, validateSpecDocument } from '@keel/pipelines';

/**
 * Column names the spec's grammar allows but no dataset can carry, each with why. Refused when a spec is applied, not
 * by the schema: a spec an earlier build stored with one must still parse (one stored spec that no longer parses
 * breaks the list of every pipeline), and goes on as it did.
 *
 * What each way in does with a name (checked in session 28 on every ingest path, with and without a source's
 * cleaning): `__proto__` is a JavaScript object's prototype rather than a key of it. The data-records contract drops
 * it from Kafka record events (the column is always missing), a Parquet file holding it is refused (its rows are read
 * as objects, and the key reads as the prototype), and CSV, JSON Lines, HTTP API and PostgreSQL rows store it, but
 * every reader of a dataset version (validation, features, training, the registry's evaluation) reads its values as
 * objects. `constructor`, `prototype`, `toString` and the like arrive and are read back as any other name (their
 * checks read own keys only), as do names differing only by case. An empty name, or one with spaces, is refused by
 * the schema's column-name pattern already.
 */
export const UNUSABLE_COLUMN_NAMES: ReadonlyMap<string, string> = new Map([
  [
    '__proto__',
    'cannot name a column: a JavaScript object takes "__proto__" as its prototype, not as a key, so Kafka records ' +
      'drop it, Parquet files holding it are refused and every reader of a dataset version loses its values ' +
      '(the column would always be missing); give the column another name',
  ],
]);

/** A key no object of a spec keeps: the schema's records (shift tests, drift tests, parameters) drop it unsaid. */
const DROPPED_KEY = '__proto__';

type Path = (string | number)[];

/** Every place a spec names a dataset column (the keys of validation.shift.columns and monitoring.drift.features are
 * read from the document: see droppedKeyIssues). A source's cleaning names the source's own fields, whose schema
 * refuses `__proto__` itself. */
export function namedColumns(spec: PipelineSpec): { path: Path; name: string }[] {
  const named: { path: Path; name: string }[] = [];
  const add = (path: Path, name: string | undefined) => {
    if (name !== undefined) named.push({ path, name });
  };
  spec.features.forEach((feature, i) => add(['features', i, 'name'], feature.name));
  add(['timeColumn'], spec.timeColumn);
  (spec.entityColumns ?? []).forEach((name, i) => add(['entityColumns', i], name));
  if (isFeatureTable(spec)) {
    add(['createdTimeColumn'], spec.createdTimeColumn);
    return named;
  }
  add(['target', 'column'], spec.target.column);
  spec.protectedAttributes.forEach((name, i) => add(['protectedAttributes', i], name));
  (spec.joins ?? []).forEach((join, i) => {
    add(['joins', i, 'entityKey'], join.entityKey);
    add(['joins', i, 'featureTime'], join.featureTime);
    add(['joins', i, 'createdTime'], join.createdTime);
    join.features.forEach((name, j) => add(['joins', i, 'features', j], name));
  });
  spec.fairnessGates.forEach((gate, i) => add(['fairnessGates', i, 'attribute'], gate.attribute));
  spec.validation.bias.forEach((check, i) => add(['validation', 'bias', i, 'attribute'], check.attribute));
  return named;
}

/** Each place the spec names a column that cannot work ({@link UNUSABLE_COLUMN_NAMES}), with its path and why. */
export function unusableColumnIssues(spec: PipelineSpec): string[] {
  return namedColumns(spec).flatMap(({ path, name }) => {
    const why = UNUSABLE_COLUMN_NAMES.get(name);
    return why === undefined ? [] : [`${path.join('.')}: "${name}" ${why}`];
  });
}

/**
 * Each `__proto__` key in a spec document (as read: YAML and JSON keep it as a key), which validating it would drop
 * without a word: a shift or drift test of a column so named, a request parameter. `document` is bounded in depth and
 * size (readSpecDocument).
 */
export function droppedKeyIssues(document: unknown, path: Path = []): string[] {
  if (Array.isArray(document)) return document.flatMap((item, i) => droppedKeyIssues(item, [...path, i]));
  if (typeof document !== 'object' || document === null) return [];
  return Object.keys(document).flatMap((key) =>
    key === DROPPED_KEY
      ? [
          `${[...path, key].join('.')}: "${key}" cannot be a key: reading the spec would drop it without a word ` +
            '(a JavaScript object takes it as its prototype)',
        ]
      : droppedKeyIssues((document as Record<string, unknown>)[key], [...path, key]),
  );
}

/**
 * A spec document (YAML or JSON text, or a parsed JSON body) validated as the pipeline store reads it, and checked for
 * what that reading cannot show: keys it drops, and column names no dataset can carry. Throws
 * InvalidPipelineSpecError with every issue, each naming its path.
 */
export function checkedSpecDocument(input: unknown): PipelineSpec {
  const document = readSpecDocument(input);
  const dropped = droppedKeyIssues(document);
  let spec: PipelineSpec;
  try {
    spec = validateSpecDocument(document);
  } catch (error) {
    if (error instanceof InvalidPipelineSpecError && dropped.length > 0) {
      throw new InvalidPipelineSpecError([...error.issues, ...dropped]);
    }
    throw error;
  }
  const issues = [...dropped, ...unusableColumnIssues(spec)];
  if (issues.length > 0) throw new InvalidPipelineSpecError(issues);
  return spec;
}
