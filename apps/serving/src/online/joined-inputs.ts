import { type DecodedModelInferRequest } from '@keel/grpc-api';
import { type SignatureInput, type SignatureJoin } from '@keel/model-package';
import {
  decodeInferInputs,
  type InputColumn,
  type InputColumns,
  InvalidInferInputError,
} from '../inference/tensor-codec';
import { type OnlineViewIndex } from './compact-view';
import { OnlineViewUnavailableError } from './online-view-unavailable';

type Request = Pick<DecodedModelInferRequest, 'inputs' | 'rawInputContents'>;

/**
 * A request's inputs for a model trained with point-in-time joins: each join's entity key comes from the request
 * (a BYTES input, one key per row; it is not a model input unless also a feature), and every joined feature the
 * request leaves out is filled from the table's online view as of `now`: the entity's latest values at or before it,
 * no older than the join's maxAgeMs, else missing (joined features are nullable). A joined feature the request does
 * give is taken as given (a request giving all of a join's features needs not its key). Everything else is decoded
 * and checked as for any model.
 */
export function decodeJoinedInputs(
  request: Request,
  signature: readonly SignatureInput[],
  joins: readonly SignatureJoin[],
  views: ReadonlyMap<string, OnlineViewIndex>,
  now: number,
  maxRows?: number,
): InputColumns {
  const tensors = request.inputs ?? [];
  const raw = request.rawInputContents ?? [];
  const inputNames = new Set(signature.map((input) => input.name));
  const lookups = joinLookups(request, signature, joins);
  // The model's own inputs: every tensor but entity keys that are not also features (a key may be sent even when
  // the request gives all of its join's features).
  const entityKeyNames = new Set(joins.map((join) => join.entityKey));
  const kept = tensors
    .map((tensor, i) => ({ tensor, raw: raw[i] }))
    .filter(({ tensor }) => inputNames.has(tensor.name) || !entityKeyNames.has(tensor.name));
  const keptRequest = {
    inputs: kept.map(({ tensor }) => tensor),
    rawInputContents: raw.length > 0 ? kept.map(({ raw: r }) => r) : [],
  };
  const keys = new Map<string, (string | null)[]>();
  for (const join of lookups) {
    if (keys.has(join.entityKey)) continue;
    const index = tensors.findIndex((tensor) => tensor.name === join.entityKey);
    if (index < 0) {
      throw new InvalidInferInputError(
        `missing input "${join.entityKey}": the entity key feature table "${join.pipeline}" is looked up by`,
        join.entityKey,
      );
    }
    // An empty key is a row without an entity: its joined features are missing, as training gives such a row.
    const keySignature: SignatureInput[] = [
      { name: join.entityKey, datatype: 'BYTES', kind: 'categorical', nullable: true },
    ];
    const decoded = decodeInferInputs(
      { inputs: [tensors[index]], rawInputContents: raw.length > 0 ? [raw[index]] : [] },
      keySignature,
      maxRows,
    );
    keys.set(join.entityKey, decoded.columns[join.entityKey] as (string | null)[]);
  }
  if (keys.size === 0) return decodeInferInputs(keptRequest, signature, maxRows);
  const rows = keys.values().next().value?.length ?? 0;

  const given = new Set(kept.map(({ tensor }) => tensor.name));
  const joined = new Set(joins.flatMap((join) => join.features));
  let columns: Record<string, InputColumn>;
  if (kept.length > 0) {
    const decoded = decodeInferInputs(keptRequest, signature, maxRows);
    if (decoded.rows !== rows) {
      throw new InvalidInferInputError(`the inputs have ${decoded.rows} rows but the entity keys have ${rows}`);
    }
    columns = { ...decoded.columns };
  } else {
    columns = {};
    for (const input of signature) {
      if (!input.nullable && !joined.has(input.name)) {
        throw new InvalidInferInputError(`missing required input "${input.name}"`, input.name);
      }
      columns[input.name] = missingColumn(input, rows);
    }
  }

  const kinds = new Map(signature.map((input) => [input.name, input]));
  for (const join of lookups) {
    const wanted = join.features.filter((name) => !given.has(name) && kinds.has(name));
    if (wanted.length === 0) continue;
    const view = views.get(join.pipeline);
    if (!view) throw new Error(`no online view of "${join.pipeline}" was given`);
    const entityKeys = keys.get(join.entityKey)!;
    const positions = wanted.map((name) => view.features.findIndex((feature) => feature.name === name));
    const absent = wanted.filter((_name, k) => positions[k] < 0);
    if (absent.length > 0) {
      // A view built for another join definition (a model trained before signatures named theirs reads the one its
      // pipeline has): answering would send missing values the model never saw as such.
      throw new OnlineViewUnavailableError(
        `the online view of feature table "${join.pipeline}" has no ${absent.map((name) => `"${name}"`).join(', ')} ` +
          "(built for another definition of the model's join)",
      );
    }
    const filled = wanted.map((name) => missingColumn(kinds.get(name)!, rows));
    for (let i = 0; i < rows; i++) {
      const key = entityKeys[i];
      const row = key === null ? -1 : view.rowAt(key, now, join.maxAgeMs);
      if (row < 0) continue;
      for (let k = 0; k < wanted.length; k++) {
        const value = view.value(positions[k], row);
        if (value === null || value === undefined) continue;
        const column = filled[k];
        if (column instanceof Float64Array) column[i] = typeof value === 'number' ? value : Number(value);
        else column[i] = String(value);
      }
    }
    wanted.forEach((name, k) => (columns[name] = filled[k]));
  }
  const ordered: Record<string, InputColumn> = {};
  for (const input of signature) ordered[input.name] = columns[input.name];
  return { rows, columns: ordered };
}

/**
 * The joins a request needs looked up: those with a feature the model takes that the request leaves out. A join whose
 * features the request gives all of needs neither its key nor its view.
 */
export function joinLookups(
  request: Request,
  signature: readonly SignatureInput[],
  joins: readonly SignatureJoin[],
): SignatureJoin[] {
  const inputNames = new Set(signature.map((input) => input.name));
  const sent = new Set((request.inputs ?? []).map((tensor) => tensor.name));
  return joins.filter((join) => join.features.some((name) => inputNames.has(name) && !sent.has(name)));
}

function missingColumn(input: SignatureInput, rows: number): InputColumn {
  return input.kind === 'categorical'
    ? new Array<string | null>(rows).fill(null)
    : new Float64Array(rows).fill(Number.NaN);
}
