import { describe, expect, it } from 'vitest';
import { KeyedLock } from './keyed-lock';

describe('KeyedLock', () => {
  it('given two tasks on one key, when started together, then the second starts after the first ends', async () => {
    const lock = new KeyedLock();
    const order: string[] = [];
    const task = (name: string) => async () => {
      order.push(`${name} start`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push(`${name} end`);
    };
    await Promise.all([lock.run('k', task('a')), lock.run('k', task('b'))]);
    expect(order).toEqual(['a start', 'a end', 'b start', 'b end']);
  });

  it('given a failing task, when the next one runs on the key, then it still runs', async () => {
    const lock = new KeyedLock();
    const failed = lock.run('k', async () => Promise.reject(new Error('boom')));
    await expect(failed).rejects.toThrow('boom');
    expect(await lock.run('k', async () => 42)).toBe(42);
  });
});
