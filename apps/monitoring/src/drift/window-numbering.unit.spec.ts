import { describe, expect, it } from 'vitest';
import { assignWindows, fullWindows, windowIndexOf } from './window-numbering';

describe('drift windows', () => {
  it('given windows of 200 rows, when predictions 1, 200, 201 and 400 arrive, then they land in windows 0, 0, 1, 1', () => {
    expect([1, 200, 201, 400].map((count) => windowIndexOf(count, 200))).toEqual([0, 0, 1, 1]);
  });

  it('given windows of 3 rows and 4 numbered predictions, when 4 more arrive, then they fill windows 1 and 2', () => {
    expect(assignWindows(4, 4, 3)).toEqual([1, 1, 2, 2]);
  });

  it('given windows of 200 rows, when the counter is at 199, 200, 399 or 400, then 0, 1, 1 and 2 windows are full', () => {
    expect([199, 200, 399, 400].map((count) => fullWindows(count, 200))).toEqual([0, 1, 1, 2]);
  });

  it('given a non-positive count or window size, when a window is asked for, then it throws', () => {
    expect(() => windowIndexOf(0, 200)).toThrow(RangeError);
    expect(() => windowIndexOf(1, 0)).toThrow(RangeError);
  });
});
