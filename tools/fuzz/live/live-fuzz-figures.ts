import { type LoopWindow } from './service-probe';

/** The acceptance bound: no single input holds a service's event loop longer. */
export const LOOP_BOUND_MS = 100;

export interface CaseOverBound {
  input: string;
  service: string;
  window: LoopWindow;
  outcome: string;
}

export interface DoorFigures {
  door: string;
  owner: string;
  limit: string;
  cases: number;
  groups: number;
  outcomes: Record<string, number>;
  /** Client wall time of the slowest single send (for Kafka: the publish; consumption is in settleWorstMs). */
  worstLatencyMs: number;
  settleWorstMs?: number;
  settleProblems: string[];
  deadLetters?: number;
  /** Per service: the most delayed window of the generated cases' groups. */
  generated: Record<string, LoopWindow>;
  /** Generated cases that, replayed alone, still held a service's loop over the bound. */
  overBound: CaseOverBound[];
  largest: {
    label: string;
    bytes: number;
    outcome: string;
    latencyMs: number;
    /** The service most delayed by this input, and its window. */
    worstService: string;
    window: LoopWindow;
    /** The door's own service's window (when the most delayed service is another one, e.g. a consumer downstream). */
    ownerWindow?: LoopWindow;
  }[];
}
