import { describe, expect, it } from 'vitest';
import {
  type Allocation,
  allocateRows,
  assignWindows,
  fullWindows,
  RECENT_ALLOCATIONS,
  rowsByWindow,
  windowIndexOf,
} from './window-numbering';

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

describe('allocateRows', () => {
  it('given a counter at 7, when a new event numbers 3 rows, then they follow the count and the allocation is remembered', () => {
    const recent: Allocation[] = [{ eventId: 'e1', before: 0, added: 7 }];

    const { allocation, remember } = allocateRows(7, recent, 'e2', 3);

    expect(allocation).toEqual({ eventId: 'e2', before: 7, added: 3 });
    expect(remember).toEqual([...recent, allocation]);
  });

  it('given an event already numbered, when it is retried after later events, then it gets its first allocation and nothing to remember', () => {
    const recent: Allocation[] = [
      { eventId: 'e1', before: 0, added: 5 },
      { eventId: 'e2', before: 5, added: 5 },
    ];

    const { allocation, remember } = allocateRows(10, recent, 'e1', 5);

    expect(allocation).toEqual({ eventId: 'e1', before: 0, added: 5 });
    expect(remember).toBeUndefined();
  });

  it('given a full memory of allocations, when one more event is numbered, then the oldest is forgotten and the size stays bounded', () => {
    const recent = Array.from({ length: RECENT_ALLOCATIONS }, (_, i) => ({ eventId: `e${i}`, before: i, added: 1 }));

    const { remember } = allocateRows(RECENT_ALLOCATIONS, recent, 'new', 1);

    expect(remember).toHaveLength(RECENT_ALLOCATIONS);
    expect(remember![0].eventId).toBe('e1');
    expect(remember!.at(-1)).toEqual({ eventId: 'new', before: RECENT_ALLOCATIONS, added: 1 });
  });
});

describe('rowsByWindow', () => {
  it('given windows of 200 rows and a counter at 198, when an event numbers 5 rows, then 2 close window 0 and 3 open window 1', () => {
    const rows = ['a', 'b', 'c', 'd', 'e'];

    const byWindow = rowsByWindow({ eventId: 'e', before: 198, added: 5 }, rows, 200);

    expect([...byWindow]).toEqual([
      [0, ['a', 'b']],
      [1, ['c', 'd', 'e']],
    ]);
  });

  it('given an allocation of fewer rows than the event carries, when rows are grouped, then only the numbered rows are kept', () => {
    const byWindow = rowsByWindow({ eventId: 'e', before: 0, added: 2 }, ['a', 'b', 'c'], 10);

    expect([...byWindow]).toEqual([[0, ['a', 'b']]]);
  });

  it('given an allocation of more rows than the event carries, when rows are grouped, then no window gets a missing row', () => {
    const byWindow = rowsByWindow({ eventId: 'e', before: 9, added: 3 }, ['a'], 10);

    expect([...byWindow]).toEqual([[0, ['a']]]);
  });
});
