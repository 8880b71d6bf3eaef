import { describe, expect, it } from 'vitest';
import {
  checkJsonDepth,
  checkValueCount,
  checkValueDepth,
  checkYamlBlockDepth,
  DocumentTooDeepError,
  DocumentTooLargeError,
} from './limits';

const nest = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

describe('document depth limits', () => {
  it('counts JSON nesting outside strings, in text and in bytes', () => {
    expect(() => checkJsonDepth(nest(32), 32)).not.toThrow();
    expect(() => checkJsonDepth(nest(33), 32)).toThrow(DocumentTooDeepError);
    expect(() => checkJsonDepth(Buffer.from(nest(33)), 32)).toThrow(/deeper than 32 levels \(JSON_MAX_DEPTH\)/);
    expect(() => checkJsonDepth(`{"a":"${'['.repeat(100)}\\"${'{'.repeat(100)}"}`, 32)).not.toThrow();
  });

  it('counts YAML block nesting by indentation and by dashes on one line', () => {
    const indented = (depth: number) => Array.from({ length: depth }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n');
    expect(() => checkYamlBlockDepth(indented(32), 32)).not.toThrow();
    expect(() => checkYamlBlockDepth(indented(33), 32)).toThrow(DocumentTooDeepError);
    expect(() => checkYamlBlockDepth(`a:\n${'- '.repeat(40)}x\n`, 32)).toThrow(DocumentTooDeepError);
    expect(() => checkYamlBlockDepth('a:\n  b: 1\n  # comment\n      \nc:\n  - d\n  - e\n', 3)).not.toThrow();
  });

  it('bounds parsed values iteratively, cycles included', () => {
    let value: unknown = 1;
    for (let i = 0; i < 10_000; i++) value = { next: value };
    expect(() => checkValueDepth(value, 32)).toThrow(DocumentTooDeepError);
    const cycle: unknown[] = [];
    cycle.push(cycle);
    expect(() => checkValueDepth(cycle, 32)).toThrow(DocumentTooDeepError);
    expect(() => checkValueDepth({ a: [{ b: 1 }] }, 3)).not.toThrow();
  });

  it('counts the values of a parsed document, refusing before walking a long array', () => {
    expect(() => checkValueCount({ a: [1, 2, { b: 'c' }] }, 6, 'LIMIT')).not.toThrow();
    expect(() => checkValueCount({ a: [1, 2, { b: 'c' }] }, 5, 'LIMIT')).toThrow(DocumentTooLargeError);
    expect(() =>
      checkValueCount({ features: new Array(1_000_000).fill(1) }, 20_000, 'PIPELINE_SPEC_MAX_VALUES'),
    ).toThrow(/more than 20,000 values \(PIPELINE_SPEC_MAX_VALUES\)/);
  });
});
