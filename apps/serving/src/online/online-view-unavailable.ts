/**
 * A joined table's online view cannot answer (not built yet, over SERVING_MAX_ONLINE_ENTITIES, or built before the
 * model's join asked for a feature it lacks): UNAVAILABLE, never a silent missing value.
 */
export class OnlineViewUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnlineViewUnavailableError';
  }
}
