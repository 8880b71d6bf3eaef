import { Injectable } from '@nestjs/common';
import { WellKnownAlias } from '@keel/contracts';
import { type LoadedModel } from './loaded-model';

/** A request's `model_version`: empty (the champion), a version number, or an alias name. */
const isVersionNumber = (versionOrAlias: string) => /^[1-9][0-9]*$/.test(versionOrAlias);

/**
 * The versions each model (named by its pipeline id) has loaded, keyed by (model, version), and the aliases it serves
 * them by. Binding an alias replaces one reference in one step; a request resolves its model once and keeps it to the
 * end, so in-flight requests are never dropped or mixed when an alias moves.
 */
@Injectable()
export class ModelStore {
  private readonly loaded = new Map<string, Map<number, LoadedModel>>();
  private readonly bindings = new Map<string, Map<string, number>>();
  /** Alias → version as the registry last said, per model: what readiness waits for. */
  private readonly wanted = new Map<string, ReadonlyMap<string, number>>();
  /** Versions given up on after every retry (bad package), per model. */
  private readonly givenUp = new Map<string, Set<number>>();
  private initialSyncDone = false;

  /**
   * The loaded model a request names: by version number, by alias, or by the champion when `versionOrAlias` is
   * empty. Undefined when that version is not loaded or the alias is not served here.
   */
  resolve(name: string, versionOrAlias = ''): LoadedModel | undefined {
    const versions = this.loaded.get(name);
    if (!versions) return undefined;
    if (isVersionNumber(versionOrAlias)) return versions.get(Number(versionOrAlias));
    const version = this.bindings.get(name)?.get(versionOrAlias || WellKnownAlias.CHAMPION);
    return version === undefined ? undefined : versions.get(version);
  }

  /** The loaded version of a model, if it is. */
  version(name: string, version: number): LoadedModel | undefined {
    return this.loaded.get(name)?.get(version);
  }

  /** Whether any version of the model is loaded. */
  has(name: string): boolean {
    return (this.loaded.get(name)?.size ?? 0) > 0;
  }

  /** Loaded version numbers of a model, ascending. */
  versions(name: string): number[] {
    return [...(this.loaded.get(name)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /** Alias → version the model serves by now. */
  aliases(name: string): ReadonlyMap<string, number> {
    return this.bindings.get(name) ?? new Map();
  }

  /** Every model this replica serves or was told about by the registry. */
  names(): string[] {
    return [...new Set([...this.loaded.keys(), ...this.wanted.keys()])];
  }

  /**
   * Why a request for a model (by version number, alias, or the champion when empty) that resolves to nothing here
   * will be answerable soon, or undefined when it will not: before the start-up sync every model may be about to load;
   * after it, only an alias the registry reports (or a version one of them names) whose load is still under way.
   * Such a request is UNAVAILABLE (retry) rather than NOT_FOUND, which tells a client the model does not exist.
   */
  loadingReason(name: string, versionOrAlias = ''): string | undefined {
    if (!this.initialSyncDone) return 'serving is starting: the start-up sync with the registry is not done';
    const wanted = this.wanted.get(name);
    if (!wanted) return undefined;
    const version = isVersionNumber(versionOrAlias)
      ? [...wanted.values()].find((number) => number === Number(versionOrAlias))
      : wanted.get(versionOrAlias || WellKnownAlias.CHAMPION);
    if (version === undefined || this.isGivenUp(name, version) || this.version(name, version)) return undefined;
    return `version ${version} of model "${name}" is still loading`;
  }

  /** Whether this version was given up on (an unusable package). */
  isGivenUp(name: string, version: number): boolean {
    return this.givenUp.get(name)?.has(version) ?? false;
  }

  /** Every loaded model version. */
  all(): LoadedModel[] {
    return [...this.loaded.values()].flatMap((versions) => [...versions.values()]);
  }

  /** Adds a loaded version; it serves requests by number at once, by alias once bound. */
  add(model: LoadedModel): void {
    let versions = this.loaded.get(model.pipelineId);
    if (!versions) this.loaded.set(model.pipelineId, (versions = new Map()));
    versions.set(model.version, model);
    this.givenUp.get(model.pipelineId)?.delete(model.version);
  }

  /** Points an alias at a loaded version; returns the version it pointed at before. */
  bind(name: string, alias: string, version: number): number | undefined {
    if (!this.version(name, version)) throw new Error(`${name} v${version} is not loaded; it cannot serve "${alias}"`);
    let aliases = this.bindings.get(name);
    if (!aliases) this.bindings.set(name, (aliases = new Map()));
    const previous = aliases.get(alias);
    aliases.set(alias, version);
    return previous;
  }

  unbind(name: string, alias: string): void {
    this.bindings.get(name)?.delete(alias);
  }

  /** Drops the versions no alias points at any more; returns their numbers. */
  prune(name: string): number[] {
    const versions = this.loaded.get(name);
    if (!versions) return [];
    const bound = new Set(this.aliases(name).values());
    const dropped = [...versions.keys()].filter((version) => !bound.has(version));
    for (const version of dropped) versions.delete(version);
    if (versions.size === 0) this.loaded.delete(name);
    return dropped;
  }

  /** Records the aliases the registry reports for a model (an empty map: none yet). */
  setWanted(name: string, aliases: ReadonlyMap<string, number>): void {
    if (aliases.size === 0) this.wanted.delete(name);
    else this.wanted.set(name, aliases);
  }

  /** Records that this version could not be loaded after every retry. */
  markGivenUp(name: string, version: number): void {
    let versions = this.givenUp.get(name);
    if (!versions) this.givenUp.set(name, (versions = new Set()));
    versions.add(version);
  }

  markInitialSyncDone(): void {
    this.initialSyncDone = true;
  }

  /**
   * Ready once the start-up sync is done and every alias the registry reports is served here by some version, or
   * has had its version given up on (a bad package, logged and counted; ModelReady says false for it). One broken
   * package must not take a replica out of rotation for every other model; a replica whose latest load failed keeps
   * serving the alias's previous version and stays ready.
   */
  isReady(): boolean {
    return this.unreadyReason() === undefined;
  }

  /** Why this replica is not ready yet, or undefined when it is. */
  unreadyReason(): string | undefined {
    if (!this.initialSyncDone) return 'start-up sync with the registry not done';
    for (const [name, aliases] of this.wanted) {
      const bound = this.bindings.get(name);
      for (const [alias, version] of aliases) {
        if (!bound?.has(alias) && !this.givenUp.get(name)?.has(version))
          return `${name} "${alias}" (v${version}) not loaded yet`;
      }
    }
    return undefined;
  }
}
