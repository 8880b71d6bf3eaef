import { type ModelOutputs } from '../models/loaded-model';
import { type InputColumns } from './tensor-codec';

/**
 * Where rollouts plug into the inference path: which version answers a request for a model's default version, and
 * which (if any) gets a mirrored copy. Provided by the routing module under {@link VERSION_ROUTER}; without one,
 * serving answers with the champion.
 */
export const VERSION_ROUTER = Symbol('VERSION_ROUTER');

/** The request parameter whose string value keeps a caller on one arm of a split (e.g. a user id). */
export const ROUTING_KEY_PARAMETER = 'keel_routing_key';

/** The answering and mirror versions of one request, by number. */
export interface Route {
  version: number;
  mirror?: number;
}

/** One request's answer beside the mirror version's outputs on the same inputs. */
export interface MirrorComparison {
  version: number;
  mirrorVersion: number;
  predictionId: string;
  rows: number;
  answer: ModelOutputs;
  mirror: ModelOutputs;
}

/** What one routed request (or its mirror) showed of the version that scored it, for the rollout's analysis. */
export interface VersionObservation {
  version: number;
  /** gRPC status of the answer (OK for a mirror that scored, INTERNAL for one that failed). */
  code: number;
  /**
   * The version's own preprocessing refused an input the signature accepts (INVALID_ARGUMENT to the caller): its
   * failure, where the caller's other mistakes are not.
   */
  refused?: boolean;
  /**
   * The online view of one of the version's own joins is over a serving memory limit (RESOURCE_EXHAUSTED) or not
   * loaded (UNAVAILABLE): the version fails every call it gets, whatever the caller sends, so it is its failure (not
   * the caller's, not overload).
   */
  viewUnavailable?: boolean;
  seconds: number;
  /** The version's outputs, when it scored the request. */
  outputs?: ModelOutputs;
  /** The request's decoded inputs, when they decoded (protected attributes' groups, for the fairness gap). */
  inputs?: InputColumns;
  mirror: boolean;
}

export interface VersionRouter {
  /**
   * Called once per request that names no version (cheap: no I/O, no per-row work); undefined means the champion
   * answers and nothing is mirrored.
   */
  route(modelName: string, stickyKey: string | undefined): Route | undefined;
  /** Called after a mirrored request's mirror has been scored and logged, off the answer's path. */
  mirrored?(modelName: string, comparison: MirrorComparison): void;
  /**
   * Called once per request the router routed, after it is answered or failed, and once per mirror scored or failed
   * (cheap: a few Map lookups).
   */
  observed?(modelName: string, observation: VersionObservation): void;
}
