import { describe, expect, it } from 'vitest';
import { DatasetVersionId } from './common';
import { derivedId } from './derived-id';

describe('derivedId', () => {
  it('given the same parts, then the same id', () => {
    expect(derivedId('ds', ['adult-income', 'a'.repeat(64)])).toBe(derivedId('ds', ['adult-income', 'a'.repeat(64)]));
  });

  it('given another pipeline, then another id', () => {
    expect(derivedId('ds', ['adult-income', 'a'.repeat(64)])).not.toBe(
      derivedId('ds', ['bike-demand', 'a'.repeat(64)]),
    );
  });

  it('given parts that concatenate alike, then different ids', () => {
    expect(derivedId('fs', ['a-b', 'c'])).not.toBe(derivedId('fs', ['a', 'b-c']));
  });

  it('given a contract prefix, then the id fits the contract', () => {
    expect(DatasetVersionId.safeParse(derivedId('ds', ['p', 1])).success).toBe(true);
  });
});
