import { type KeyedDocument, type KeyedTable } from './keyed-table';

/** A named document's latest state and the version that wrote it (1, 2, 3 … per name). */
export interface Versioned<S> {
  version: number;
  state: S;
}

export interface VersionedDocumentsOptions {
  /** One document per version, `_id` = revisionId(name, version): inserting it is the claim of that version. */
  revisions: KeyedTable;
  /** The latest version of each name under `_id` = name: a hint that readers verify by probing the next revision. */
  heads: KeyedTable;
  /** The field holding the version number in heads and revisions (default `version`). */
  versionField?: string;
  /**
   * How many of a name's latest revisions keep their state (default: all, a history). Older ones become tombstones:
   * their `_id` stays, so the version can never be claimed again by a writer that read a stale state.
   */
  keepStates?: number;
  /** `_id` of a revision (default `<name>@<version>`). */
  revisionId?: (name: string, version: number) => string;
}

/** Field set on a revision whose state was dropped (see keepStates), beside TOMBSTONE_AT. */
const TOMBSTONE = 'superseded';
const TOMBSTONE_AT = 'supersededAt';

/**
 * Filter of the tombstones superseded before `cutoff`, for a retention sweep: once no writer can still hold a state
 * that old, their version numbers need no guarding (a scan, off the hot path).
 */
export function tombstonesBefore(cutoff: Date): Record<string, unknown> {
  return { [TOMBSTONE]: true, [TOMBSTONE_AT]: { $lt: cutoff } };
}

/** Whether a document is a tombstone superseded before `cutoff` (tombstonesBefore's filter, for tables in memory). */
export function isTombstoneBefore(document: Record<string, unknown>, cutoff: Date): boolean {
  const at = document[TOMBSTONE_AT];
  return document[TOMBSTONE] === true && at instanceof Date && at < cutoff;
}

/** A state that kept changing under every attempt of an update. */
export class VersionConflictError extends Error {
  constructor(name: string, attempts: number) {
    super(`${name} kept changing under ${attempts} attempts to update it`);
    this.name = 'VersionConflictError';
  }
}

/**
 * Compare-and-set on a store whose only atomic primitive is a unique `_id` insert. A state moves from version v to
 * v + 1 by inserting revision v + 1: of two writers that read v, exactly one insert succeeds and the other learns it
 * lost (duplicate key) and reads again. The revision holds the whole new state, so the move is complete the moment
 * the insert is; the head is then raised to it as a hint, and a reader starts from the head and follows revisions
 * v + 1, v + 2 … until one is missing, so a head that lags (a crash before it was raised, a late writer) is never
 * taken for the truth. See docs/design/repositories.md, rule 2.
 */
export class VersionedDocuments<S extends Record<string, unknown>> {
  private readonly versionField: string;
  private readonly revisionId: (name: string, version: number) => string;

  constructor(private readonly options: VersionedDocumentsOptions) {
    this.versionField = options.versionField ?? 'version';
    this.revisionId = options.revisionId ?? ((name, version) => `${name}@${version}`);
  }

  /** The latest state of `name`, or null when it was never written. Repairs a lagging head on the way. */
  async read(name: string): Promise<Versioned<S> | null> {
    const head = await this.options.heads.find(name);
    const headVersion = head ? this.versionOf(head) : 0;
    let version = headVersion;
    let latest: KeyedDocument | null = head;
    for (;;) {
      const next = await this.options.revisions.find(this.revisionId(name, version + 1));
      if (!next) break;
      version += 1;
      latest = next;
    }
    if (!latest) return null;
    if (latest[TOMBSTONE]) throw new Error(`the latest revision of ${name} (${version}) has no state`);
    const state = this.stateOf(latest);
    if (version > headVersion) await this.raiseHead(name, version, state);
    return { version, state };
  }

  /**
   * Writes `state` as the version after `basedOn` (0 for the first); false when another writer claimed that
   * version first: read again, and decide again on what it wrote.
   */
  async write(name: string, basedOn: number, state: S): Promise<boolean> {
    const version = basedOn + 1;
    const claimed = await this.options.revisions.insert({
      ...state,
      _id: this.revisionId(name, version),
      [this.versionField]: version,
    });
    if (!claimed) return false;
    // The move is complete with the insert; the head and the tombstone are separate documents, written together (a
    // state moved once a chunk of a pull pays these round trips on its critical path). That is safe because the head
    // is already at `basedOn` or past it (a caller writes on what read() or its own last write returned, and both
    // raise the head), so the revision tombstoned here is below the head and no reader probes it.
    const keep = this.options.keepStates;
    await Promise.all([
      this.raiseHead(name, version, state),
      keep !== undefined && version - keep >= 1
        ? this.options.revisions.unset(this.revisionId(name, version - keep), this.stateFields(state), {
            [TOMBSTONE]: true,
            [TOMBSTONE_AT]: new Date(),
          })
        : undefined,
    ]);
    return true;
  }

  /**
   * Read, change, write until the write wins: `change` sees the latest state (null when none) and returns the next
   * one, or null to leave it as it is. Returns the state as it stands after the call and whether this call wrote it.
   * `change` may run several times, so it must not have side effects.
   */
  async update(
    name: string,
    change: (current: Versioned<S> | null) => S | null,
    attempts = 50,
  ): Promise<{ current: Versioned<S> | null; changed: boolean }> {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const current = await this.read(name);
      const next = change(current);
      if (next === null) return { current, changed: false };
      const basedOn = current?.version ?? 0;
      if (await this.write(name, basedOn, next))
        return { current: { version: basedOn + 1, state: next }, changed: true };
    }
    throw new VersionConflictError(name, attempts);
  }

  private raiseHead(name: string, version: number, state: S): Promise<void> {
    return this.options.heads.raise(name, this.versionField, version, { ...state, [this.versionField]: version });
  }

  /** A state's fields to drop from a tombstone: not the tombstone's own, which the same update sets. */
  private stateFields(state: S): string[] {
    return Object.keys(state).filter((field) => field !== TOMBSTONE && field !== TOMBSTONE_AT);
  }

  private versionOf(document: KeyedDocument): number {
    const version = document[this.versionField];
    return typeof version === 'number' ? version : 0;
  }

  private stateOf(document: KeyedDocument): S {
    const {
      _id: _ignored,
      [this.versionField]: _version,
      [TOMBSTONE]: _tombstone,
      [TOMBSTONE_AT]: _at,
      ...state
    } = document;
    return state as S;
  }
}
