import { describe, expect, it } from 'vitest';
import { viewBuildNeeded } from './online-views.service';

describe('viewBuildNeeded', () => {
  const join = 'a'.repeat(64);
  const other = 'b'.repeat(64);

  it('builds a missing view, or one short of the cut the pipeline joined, up to the cut', () => {
    expect(viewBuildNeeded(null, 3, join)).toBe(3);
    expect(viewBuildNeeded({ sequence: 2, joinSha256: join }, 3, join)).toBe(3);
    expect(viewBuildNeeded(null, 0, join)).toBeUndefined(); // the table has no version yet
  });

  it('keeps a view of the cut or later built for this join', () => {
    expect(viewBuildNeeded({ sequence: 3, joinSha256: join }, 3, join)).toBeUndefined();
    expect(viewBuildNeeded({ sequence: 5, joinSha256: join }, 3, join)).toBeUndefined();
  });

  it('rebuilds, up to its own version, a view built for another definition of the join (or before hashes)', () => {
    expect(viewBuildNeeded({ sequence: 5, joinSha256: other }, 3, join)).toBe(5);
    expect(viewBuildNeeded({ sequence: 3 }, 3, join)).toBe(3);
  });
});
