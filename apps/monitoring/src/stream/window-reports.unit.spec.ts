import { describe, expect, it } from 'vitest';
import { WindowReports } from './window-reports';

/** A report the test finishes by hand, recording the groups it was given. */
function manualReporter() {
  const groups: number[][] = [];
  const finish: ((error?: Error) => void)[] = [];
  const report = (windows: number[]) =>
    new Promise<void>((resolve, reject) => {
      groups.push(windows);
      finish.push((error) => (error ? reject(error) : resolve()));
    });
  return { groups, finish, report };
}

/** A few turns of the event loop: long enough for a queued report to start. */
const turn = async () => {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('WindowReports', () => {
  it('reports the windows closed in one turn together, and those closed meanwhile in the next group', async () => {
    const { groups, finish, report } = manualReporter();
    const reports = new WindowReports(report);
    // given three windows closed in one turn of the event loop
    reports.add(1);
    reports.add(2);
    reports.add(3);
    await turn();
    // then one report takes all three
    expect(groups).toEqual([[1, 2, 3]]);
    // and windows closed while it runs wait for it, then go together
    reports.add(4);
    reports.add(5);
    await turn();
    expect(groups).toHaveLength(1);
    expect(reports.pending).toBe(2);
    const settledBefore6 = reports.settled();
    reports.add(6);
    finish[0]();
    await turn();
    await turn();
    expect(groups).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    finish[1]();
    await settledBefore6;
  });

  it('settles once what was queued before is reported, not what is queued after', async () => {
    const { groups, finish, report } = manualReporter();
    const reports = new WindowReports(report);
    reports.add(1);
    await turn();
    let settled = false;
    const done = reports.settled().then(() => (settled = true));
    reports.add(2);
    finish[0]();
    await done;
    expect(settled).toBe(true);
    expect(groups).toEqual([[1]]);
    await turn();
    expect(groups).toEqual([[1], [2]]);
    finish[1]();
    await reports.settled();
    // a settled queue with nothing queued settles at once
    await reports.settled();
  });

  it('keeps a failed report for settled, and goes on reporting the windows after it', async () => {
    const { groups, finish, report } = manualReporter();
    const reports = new WindowReports(report);
    reports.add(1);
    await turn();
    finish[0](new Error('store away'));
    await expect(reports.settled()).rejects.toThrow('store away');
    reports.add(2);
    await turn();
    expect(groups).toEqual([[1], [2]]);
    finish[1]();
    await expect(reports.settled()).rejects.toThrow('store away');
  });
});
