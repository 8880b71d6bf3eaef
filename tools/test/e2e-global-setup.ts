import { stopServices } from '../services/services';
import { serviceGroupBacklogs } from './stack-backlog';

/** Above this many unconsumed events, the services spend the run on earlier runs' events first: say so up front. */
const BACKLOG_WARNING_EVENTS = 100;

/**
 * The e2e tier's global setup: before the run, a warning when the stack holds a backlog of earlier runs' events in
 * the services' consumer groups (their members work through it first, so a run on such a stack is slow for reasons
 * outside it); afterwards every instance the specs started is stopped, so no run leaves services holding the
 * stack's fixed ports.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const backlogs = await serviceGroupBacklogs().catch(() => new Map<string, number>());
  const total = [...backlogs.values()].reduce((sum, events) => sum + events, 0);
  if (total > BACKLOG_WARNING_EVENTS) {
    const groups = [...backlogs].map(([group, events]) => `${group} ${events}`).join(', ');
    console.warn(`e2e: the stack holds ${total} events that earlier runs left unconsumed (${groups})`);
  }
  return () => stopServices();
}
