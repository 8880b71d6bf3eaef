import { stopServices } from '../services/services';

/**
 * The e2e tier's global setup: nothing before the run (each spec starts the services it needs); afterwards every
 * instance the specs started is stopped, so no run leaves services holding the stack's fixed ports.
 */
export default function setup(): () => Promise<void> {
  return () => stopServices();
}
