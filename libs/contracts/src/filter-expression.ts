/**
 * The filter language of a source's declared cleaning (`cleaning.filter`): a row is kept when its expression is true.
 *
 *   status = 'active' and (age >= 18 or country in ['FR', 'DE']) and email is not null
 *
 * Comparisons (`=` `==` `!=` `<>` `<` `<=` `>` `>=`), `and`, `or`, `not`, `in [...]` / `not in [...]`, `is null` /
 * `is not null`, parentheses, column names (bare, or in backticks for any other name), and literals: numbers,
 * 'single' or "double" quoted strings (backslash escapes the quote and itself), true, false, null. Keywords are
 * case-insensitive. Nulls follow SQL: a comparison with a null (or with a value of another kind) is unknown, `and` /
 * `or` / `not` are three-valued, and a row whose filter is unknown is dropped like one whose filter is false.
 *
 * Written here rather than taken from a library: filtrex compiles expressions to JavaScript source run through
 * `new Function` (which this must never do), and jsep parses JavaScript's syntax (`&&`, `==`) rather than this
 * SQL-like one, needing plugins for `in` and `is null`, with no bound on nesting. This parser never evaluates code,
 * only walks a tree it built, and is bounded: at most MAX_FILTER_CHARS characters and MAX_FILTER_DEPTH levels of
 * nesting (so neither parsing nor evaluation can exhaust the stack), `and`/`or` chains kept flat.
 */

/** Longest filter expression accepted. */
export const MAX_FILTER_CHARS = 2_000;
/** Deepest nesting of parentheses and `not`s accepted. */
export const MAX_FILTER_DEPTH = 32;
/** Most values an `in [...]` list may hold. */
export const MAX_FILTER_LIST = 256;

export type FilterLiteral = string | number | boolean | null;
export type ComparisonOperator = '=' | '!=' | '<' | '<=' | '>' | '>=';

export type FilterExpression =
  | { kind: 'literal'; value: FilterLiteral }
  | { kind: 'column'; name: string; at: number }
  | { kind: 'and' | 'or'; items: FilterExpression[] }
  | { kind: 'not'; item: FilterExpression }
  | { kind: 'compare'; op: ComparisonOperator; left: FilterExpression; right: FilterExpression }
  | { kind: 'in'; item: FilterExpression; values: FilterLiteral[]; negated: boolean }
  | { kind: 'is-null'; item: FilterExpression; negated: boolean };

/** A filter that does not parse; `position` is the 0-based offset of the character where it went wrong. */
export class FilterSyntaxError extends Error {
  constructor(
    readonly position: number,
    readonly problem: string,
  ) {
    super(`at character ${position + 1}: ${problem}`);
  }
}

type Token =
  | { kind: 'number'; value: number; at: number; text: string }
  | { kind: 'string'; value: string; at: number; text: string }
  | { kind: 'name'; value: string; at: number; text: string; quoted: boolean }
  | { kind: 'op'; value: string; at: number; text: string }
  | { kind: 'end'; at: number; text: string };

const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'is', 'null', 'true', 'false']);
const OPERATORS = ['<=', '>=', '!=', '<>', '==', '=', '<', '>', '(', ')', '[', ']', ','];
const NUMBER = /[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y;
const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const char = source[i];
    if (/\s/.test(char)) {
      i++;
      continue;
    }
    const at = i;
    if (char === "'" || char === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= source.length) throw new FilterSyntaxError(at, `the string starting here is not closed with ${char}`);
        const c = source[i];
        if (c === '\\' && (source[i + 1] === char || source[i + 1] === '\\')) {
          value += source[i + 1];
          i += 2;
        } else if (c === char) {
          i++;
          break;
        } else {
          value += c;
          i++;
        }
      }
      tokens.push({ kind: 'string', value, at, text: source.slice(at, i) });
      continue;
    }
    if (char === '`') {
      const close = source.indexOf('`', i + 1);
      if (close < 0) throw new FilterSyntaxError(at, 'the column name starting here is not closed with `');
      const value = source.slice(i + 1, close);
      if (value === '') throw new FilterSyntaxError(at, 'empty column name');
      i = close + 1;
      tokens.push({ kind: 'name', value, at, text: source.slice(at, i), quoted: true });
      continue;
    }
    // A sign belongs to a number only where a value is expected (after an operator or at the start), so `a -1` is
    // not read as `a` followed by `-1` silently: there it is an error.
    const previous = tokens[tokens.length - 1];
    const valueExpected =
      !previous ||
      (previous.kind === 'op' && previous.value !== ')' && previous.value !== ']') ||
      (previous.kind === 'name' && !previous.quoted && /^(and|or|not)$/i.test(previous.value));
    if (/[0-9.]/.test(char) || ((char === '-' || char === '+') && valueExpected)) {
      NUMBER.lastIndex = i;
      const match = NUMBER.exec(source);
      if (match) {
        i += match[0].length;
        if (i < source.length && /[A-Za-z0-9_.]/.test(source[i])) {
          throw new FilterSyntaxError(at, `"${source.slice(at, i + 1)}" is not a number`);
        }
        const value = Number(match[0]);
        if (!Number.isFinite(value)) throw new FilterSyntaxError(at, `${match[0]} is beyond the range of numbers`);
        if (/^[+-]?\d+$/.test(match[0]) && !Number.isSafeInteger(value)) {
          throw new FilterSyntaxError(
            at,
            `${match[0]} is beyond the integers a number holds exactly (±2^53); quote it to compare it as text`,
          );
        }
        tokens.push({ kind: 'number', value, at, text: match[0] });
        continue;
      }
    }
    NAME.lastIndex = i;
    const name = NAME.exec(source);
    if (name) {
      i += name[0].length;
      tokens.push({ kind: 'name', value: name[0], at, text: name[0], quoted: false });
      continue;
    }
    const op = OPERATORS.find((candidate) => source.startsWith(candidate, i));
    if (!op) throw new FilterSyntaxError(at, `unexpected character ${JSON.stringify(char)}`);
    i += op.length;
    tokens.push({ kind: 'op', value: op, at, text: op });
  }
  tokens.push({ kind: 'end', at: source.length, text: 'the end' });
  return tokens;
}

function describe(token: Token): string {
  return token.kind === 'end' ? 'the end' : JSON.stringify(token.text);
}

/** A recursive-descent parser whose every recursion goes through `nested`, which bounds the depth. */
class Parser {
  private index = 0;
  private depth = 0;

  constructor(private readonly tokens: Token[]) {}

  parse(): FilterExpression {
    const expression = this.or();
    const next = this.peek();
    if (next.kind !== 'end') {
      throw new FilterSyntaxError(next.at, `expected and, or or the end, found ${describe(next)}`);
    }
    return expression;
  }

  private peek(): Token {
    return this.tokens[this.index];
  }

  private keyword(word: string): boolean {
    const token = this.peek();
    if (token.kind === 'name' && !token.quoted && token.value.toLowerCase() === word) {
      this.index++;
      return true;
    }
    return false;
  }

  private op(...values: string[]): string | undefined {
    const token = this.peek();
    if (token.kind === 'op' && values.includes(token.value)) {
      this.index++;
      return token.value;
    }
    return undefined;
  }

  private nested<T>(at: number, parse: () => T): T {
    if (++this.depth > MAX_FILTER_DEPTH) {
      throw new FilterSyntaxError(at, `nested more than ${MAX_FILTER_DEPTH} levels deep`);
    }
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  private or(): FilterExpression {
    const items = [this.and()];
    while (this.keyword('or')) items.push(this.and());
    return items.length === 1 ? items[0] : { kind: 'or', items };
  }

  private and(): FilterExpression {
    const items = [this.not()];
    while (this.keyword('and')) items.push(this.not());
    return items.length === 1 ? items[0] : { kind: 'and', items };
  }

  private not(): FilterExpression {
    const at = this.peek().at;
    if (this.keyword('not')) return { kind: 'not', item: this.nested(at, () => this.not()) };
    return this.predicate();
  }

  private predicate(): FilterExpression {
    const item = this.value();
    const token = this.peek();
    const op = this.op('=', '==', '!=', '<>', '<', '<=', '>', '>=');
    if (op) {
      const operator: ComparisonOperator = op === '==' ? '=' : op === '<>' ? '!=' : (op as ComparisonOperator);
      return { kind: 'compare', op: operator, left: item, right: this.value() };
    }
    if (this.keyword('is')) {
      const negated = this.keyword('not');
      if (!this.keyword('null')) {
        throw new FilterSyntaxError(this.peek().at, `expected null after "is", found ${describe(this.peek())}`);
      }
      return { kind: 'is-null', item, negated };
    }
    const before = this.index;
    const negated = this.keyword('not');
    if (this.keyword('in')) return { kind: 'in', item, values: this.list(), negated };
    if (negated) {
      this.index = before;
      throw new FilterSyntaxError(token.at, 'expected "in" after "not" here ("not x" goes before the value)');
    }
    return item;
  }

  private list(): FilterLiteral[] {
    const open = this.peek();
    const bracket = this.op('[', '(');
    if (!bracket) throw new FilterSyntaxError(open.at, `expected [ after "in", found ${describe(open)}`);
    const close = bracket === '[' ? ']' : ')';
    const values: FilterLiteral[] = [];
    for (;;) {
      const token = this.peek();
      const literal = this.literal();
      if (literal === undefined) {
        throw new FilterSyntaxError(token.at, `expected a literal in the list, found ${describe(token)}`);
      }
      values.push(literal.value);
      if (values.length > MAX_FILTER_LIST) {
        throw new FilterSyntaxError(token.at, `a list holds at most ${MAX_FILTER_LIST} values`);
      }
      if (this.op(close)) return values;
      const next = this.peek();
      if (!this.op(',')) throw new FilterSyntaxError(next.at, `expected , or ${close}, found ${describe(next)}`);
    }
  }

  private literal(): { value: FilterLiteral } | undefined {
    const token = this.peek();
    if (token.kind === 'number' || token.kind === 'string') {
      this.index++;
      return { value: token.value };
    }
    if (this.keyword('true')) return { value: true };
    if (this.keyword('false')) return { value: false };
    if (this.keyword('null')) return { value: null };
    return undefined;
  }

  private value(): FilterExpression {
    const token = this.peek();
    if (token.kind === 'op' && token.value === '(') {
      this.index++;
      const inner = this.nested(token.at, () => this.or());
      const close = this.peek();
      if (!this.op(')')) throw new FilterSyntaxError(close.at, `expected ), found ${describe(close)}`);
      return inner;
    }
    const literal = this.literal();
    if (literal) return { kind: 'literal', value: literal.value };
    if (token.kind === 'name' && (token.quoted || !KEYWORDS.has(token.value.toLowerCase()))) {
      this.index++;
      return { kind: 'column', name: token.value, at: token.at };
    }
    throw new FilterSyntaxError(token.at, `expected a column, a literal or (, found ${describe(token)}`);
  }
}

/** Parses a filter expression, or throws a {@link FilterSyntaxError} naming where it went wrong. */
export function parseFilter(source: string): FilterExpression {
  if (source.length > MAX_FILTER_CHARS) {
    throw new FilterSyntaxError(MAX_FILTER_CHARS, `longer than ${MAX_FILTER_CHARS} characters`);
  }
  if (source.trim() === '') throw new FilterSyntaxError(0, 'the filter is empty');
  return new Parser(tokenize(source)).parse();
}

/** The columns an expression names, each once with where it is first named, in order. */
export function filterColumns(expression: FilterExpression): { name: string; at: number }[] {
  const found = new Map<string, number>();
  const visit = (node: FilterExpression): void => {
    switch (node.kind) {
      case 'column':
        if (!found.has(node.name)) found.set(node.name, node.at);
        return;
      case 'literal':
        return;
      case 'and':
      case 'or':
        node.items.forEach(visit);
        return;
      case 'not':
      case 'in':
      case 'is-null':
        visit(node.item);
        return;
      case 'compare':
        visit(node.left);
        visit(node.right);
        return;
    }
  };
  visit(expression);
  return [...found].map(([name, at]) => ({ name, at }));
}

// Decimal text compares as a number with a number, and "true"/"false" text as a boolean with a boolean: CSV and
// JSON Lines give every value as text. Two fields of decimal text compare as numbers too; a quoted literal always
// compares as text (`zip = '01234'`).
const DECIMAL_TEXT = /^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isNaN(value) ? undefined : value;
  return typeof value === 'string' && DECIMAL_TEXT.test(value) ? Number(value) : undefined;
}

function asBoolean(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'string') return undefined;
  const text = value.trim().toLowerCase();
  return text === 'true' ? true : text === 'false' ? false : undefined;
}

/**
 * -1, 0, 1, or null when the two values do not compare (a null, or values of different kinds). `textLiteral`: one
 * side is a quoted literal, so two texts compare as text.
 */
function order(left: unknown, right: unknown, textLiteral: boolean): number | null {
  if (left === null || left === undefined || right === null || right === undefined) return null;
  if (
    typeof left === 'number' ||
    typeof right === 'number' ||
    (!textLiteral &&
      typeof left === 'string' &&
      typeof right === 'string' &&
      DECIMAL_TEXT.test(left) &&
      DECIMAL_TEXT.test(right))
  ) {
    const a = asNumber(left);
    const b = asNumber(right);
    return a === undefined || b === undefined ? null : Math.sign(a - b);
  }
  if (typeof left === 'boolean' || typeof right === 'boolean') {
    const a = asBoolean(left);
    const b = asBoolean(right);
    return a === undefined || b === undefined ? null : a === b ? 0 : a ? 1 : -1;
  }
  if (typeof left === 'string' && typeof right === 'string') return left < right ? -1 : left > right ? 1 : 0;
  return null;
}

function compare(op: ComparisonOperator, left: unknown, right: unknown, textLiteral = false): boolean | null {
  const sign = order(left, right, textLiteral);
  if (sign === null) return null;
  switch (op) {
    case '=':
      return sign === 0;
    case '!=':
      return sign !== 0;
    case '<':
      return sign < 0;
    case '<=':
      return sign <= 0;
    case '>':
      return sign > 0;
    case '>=':
      return sign >= 0;
  }
}

const isTextLiteral = (node: FilterExpression) => node.kind === 'literal' && typeof node.value === 'string';

/** A row's value of an expression: true, false, null (unknown) or a scalar. */
function evaluate(node: FilterExpression, row: Readonly<Record<string, unknown>>): unknown {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'column': {
      // Own fields only: a row parsed from JSON may be named `__proto__` or `constructor`, never inherited ones.
      const value = Object.prototype.hasOwnProperty.call(row, node.name) ? row[node.name] : undefined;
      return value === undefined ? null : value;
    }
    case 'and': {
      let unknown = false;
      for (const item of node.items) {
        const value = truth(evaluate(item, row));
        if (value === false) return false;
        if (value === null) unknown = true;
      }
      return unknown ? null : true;
    }
    case 'or': {
      let unknown = false;
      for (const item of node.items) {
        const value = truth(evaluate(item, row));
        if (value === true) return true;
        if (value === null) unknown = true;
      }
      return unknown ? null : false;
    }
    case 'not': {
      const value = truth(evaluate(node.item, row));
      return value === null ? null : !value;
    }
    case 'compare':
      return compare(
        node.op,
        evaluate(node.left, row),
        evaluate(node.right, row),
        isTextLiteral(node.left) || isTextLiteral(node.right),
      );
    case 'in': {
      // As `x = a or x = b ...` (and `not in` as its negation): unknown when nothing matched and a comparison was.
      const value = evaluate(node.item, row);
      if (value === null) return null;
      let unknown = false;
      for (const candidate of node.values) {
        const equal = compare('=', value, candidate, typeof candidate === 'string');
        if (equal === true) return !node.negated;
        if (equal === null) unknown = true;
      }
      return unknown ? null : node.negated;
    }
    case 'is-null': {
      const value = evaluate(node.item, row);
      const isNull = value === null || value === undefined;
      return node.negated ? !isNull : isNull;
    }
  }
}

/** A boolean (or "true"/"false" text), or null for anything else: a bare field is true only when it says true. */
function truth(value: unknown): boolean | null {
  return asBoolean(value) ?? null;
}

/** True when the row passes the filter; false when the filter is false or unknown for it. */
export function filterKeeps(expression: FilterExpression, row: Readonly<Record<string, unknown>>): boolean {
  return truth(evaluate(expression, row)) === true;
}
