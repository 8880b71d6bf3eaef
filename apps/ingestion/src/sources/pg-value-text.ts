import { types } from 'pg';
import { pulledValue } from './postgres-reader';

/** json, jsonb: kept as the JSON text PostgreSQL prints (what Airbyte's Postgres source gives too). */
export const JSON_TYPE_IDS: ReadonlySet<number> = new Set([114, 3802]);

/**
 * How a pull reads one field of a type, from the text COPY printed (unescaped): node-postgres's parser of the type,
 * as a query result would carry it, except where that parser makes a value no dataset cell can hold. A dataset cell
 * is a number, a string or null, and the record checks refuse anything else; so a `jsonb`, array, `bytea`, interval
 * or geometric column declared as a feature would refuse every row holding a value. Instead:
 * - json and jsonb give their JSON text as it is (`{"a": [1, 2]}`, `"s"` with its quotes, `5`): always text, so a
 *   number and a string that look alike in JSON stay apart, and a number column reads `5` as any decimal text;
 * - every other type whose parser makes an object (arrays to arrays, bytea to a Buffer, interval and point to
 *   objects) gives the text PostgreSQL printed: arrays in PostgreSQL's own form (`{1,2}`, `{NULL,3}`, the form
 *   node-postgres already gives arrays of types it has no parser for, enums say), bytea as `\x` and hex;
 * - a timestamp (a Date) becomes ISO text (`pulledValue`).
 * A number column reading such text refuses the row with its reason (`tags "{1,2}" is not a number`), as before.
 */
export function pulledValueParser(typeId: number): (text: string) => unknown {
  if (JSON_TYPE_IDS.has(typeId)) return (text) => text;
  const parse = types.getTypeParser(typeId, 'text') as (text: string) => unknown;
  return (text) => {
    const value = pulledValue(parse(text));
    return value !== null && typeof value === 'object' ? text : value;
  };
}
