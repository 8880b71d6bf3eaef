/**
 * A joined table's online view cannot answer (not built yet, or built before the model's join asked for a feature it
 * lacks): UNAVAILABLE, never a silent missing value.
 */
export class OnlineViewUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnlineViewUnavailableError';
  }
}

/** The serving limit a view was refused under, named by its variable. */
export type OnlineViewLimit = 'SERVING_MAX_ONLINE_ENTITIES' | 'SERVING_MAX_ONLINE_VIEW_BYTES';

/**
 * The view is built but over one of serving's memory limits, so it is not loaded: RESOURCE_EXHAUSTED (REST 507), not
 * UNAVAILABLE, since retrying does not help until the limit is raised or the view shrinks (or, for the entity budget,
 * other views are unloaded). Still a view that cannot answer, so counted as one wherever unavailability is.
 */
export class OnlineViewOverLimitError extends OnlineViewUnavailableError {
  constructor(
    message: string,
    readonly limit: OnlineViewLimit,
  ) {
    super(message);
    this.name = 'OnlineViewOverLimitError';
  }
}
