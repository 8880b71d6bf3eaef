import { type ServiceName } from '../services/services';

/**
 * When a fault strikes within its round, so that it hits the component while that component has the round's work
 * in hand: between two published batches (ingestion is staging), after all are published, or once the round's work
 * has reached a stage (a new dataset version cut, validated, a feature set built, a training run stored, a model
 * version registered).
 */
export type FaultMoment =
  'mid-publish' | 'published' | 'dataset-cut' | 'validated' | 'features-built' | 'trained' | 'registered';

export type Fault =
  | { id: string; kind: 'kill-service'; service: ServiceName; at: FaultMoment }
  | { id: string; kind: 'kill-server'; server: string; at: FaultMoment }
  | { id: string; kind: 'outage'; server: string; at: FaultMoment };

const killService = (service: ServiceName, at: FaultMoment): Fault => ({
  id: `kill:${service}`,
  kind: 'kill-service',
  service,
  at,
});
const killServer = (server: string, at: FaultMoment): Fault => ({
  id: `kill:${server}`,
  kind: 'kill-server',
  server,
  at,
});
const outage = (server: string): Fault => ({ id: `outage:${server}`, kind: 'outage', server, at: 'published' });

/** Every fault of a full run, in order: each service while it works on the round, each server, two outages. */
export const allFaults: readonly Fault[] = [
  killService('ingestion', 'mid-publish'),
  killService('validation', 'dataset-cut'),
  killService('features', 'validated'),
  killService('training', 'features-built'),
  killService('registry', 'trained'),
  killService('serving', 'registered'),
  killService('monitoring', 'published'),
  killServer('kafka', 'published'),
  killServer('minio', 'published'),
  killServer('ferretdb', 'mid-publish'),
  killServer('jaeger', 'published'),
  outage('minio'),
  outage('ferretdb'),
];

/** One fault of each kind, for a quick trial: a service, a server, an outage. */
export const fastFaults: readonly string[] = ['kill:training', 'kill:kafka', 'outage:minio'];

/** The faults `CHAOS_FAULTS` names (comma-separated ids), or the fast set, or all. */
export function selectFaults(ids: string | undefined, fast: boolean): readonly Fault[] {
  if (!ids) return fast ? allFaults.filter((fault) => fastFaults.includes(fault.id)) : allFaults;
  const wanted = ids.split(',').map((id) => id.trim());
  const unknown = wanted.filter((id) => !allFaults.some((fault) => fault.id === id));
  if (unknown.length > 0) {
    throw new Error(`unknown fault(s) ${unknown.join(', ')}; known: ${allFaults.map((f) => f.id).join(', ')}`);
  }
  return wanted.map((id) => allFaults.find((fault) => fault.id === id)!);
}

export function describeFault(fault: Fault, outageSeconds: number, outageMode: 'pause' | 'stop'): string {
  switch (fault.kind) {
    case 'kill-service':
      return `kill -9 ${fault.service}`;
    case 'kill-server':
      return `kill -9 ${fault.server}`;
    case 'outage':
      return `${fault.server} ${outageMode === 'pause' ? 'paused' : 'stopped'} ${outageSeconds} s`;
  }
}
