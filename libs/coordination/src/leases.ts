import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { type Connection } from 'mongoose';
import { type KeyedDocument, type KeyedTable, mongoKeyedTable } from './keyed-table';

/** A lease held by this process: exclusive use of `name` until `validUntil` (this process's clock, in ms). */
export interface Lease {
  name: string;
  /** Numbered 1, 2, 3 … per name; a newer holder always has a higher epoch, so it is the fencing token. */
  epoch: number;
  holder: string;
  /** When other processes may take the lease over, as stored. */
  expiresAt: number;
  /** Until when this holder may act on it: expiresAt less a safety margin for the time a write takes to land. */
  validUntil: number;
}

export interface LeasesOptions {
  /** Clock in ms (default Date.now); a test may drive it. */
  now?: () => number;
  /** Share of the time-to-live kept back as a safety margin on the holder's side (default 0.2). */
  marginShare?: number;
}

/** The lease was lost (expired or taken over) while work under it was still running. */
export class LeaseLostError extends Error {
  constructor(
    readonly leaseName: string,
    readonly epoch: number,
  ) {
    super(`lease ${leaseName} (epoch ${epoch}) was lost`);
    this.name = 'LeaseLostError';
  }
}

interface LeaseDocument extends KeyedDocument {
  name: string;
  epoch: number;
  holder: string;
  expiresAt: Date;
  acquiredAt: Date;
  releasedAt?: Date;
}

const epochId = (name: string, epoch: number) => `${name}#${epoch}`;
const hintId = (name: string) => `${name}#latest`;

/**
 * Epoch-numbered leases claimed by insert, for a store whose only atomic primitive is a unique `_id` insert. The
 * holder of epoch e owns document `<name>#<e>`; a lease is free when that document is released or expired, and is
 * then taken by inserting `<name>#<e+1>`: of two claimants exactly one insert succeeds. Renewal moves the holder's
 * own expiry, and a holder acts only until a margin before the expiry others see, so a take-over never overlaps a
 * holder that respects its `validUntil`. Where even a paused holder must not write, stamp writes with the epoch
 * (the fencing token) and let readers prefer the higher one. See docs/design/repositories.md, rule 2.
 */
export class Leases {
  private readonly now: () => number;
  private readonly marginShare: number;

  constructor(
    private readonly table: KeyedTable,
    options: LeasesOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.marginShare = options.marginShare ?? 0.2;
  }

  /** Takes the lease for `ttlMs` when it is free; null when a holder has it. */
  async acquire(name: string, holder: string, ttlMs: number): Promise<Lease | null> {
    const started = this.now();
    const latest = await this.latest(name);
    // Held until released or expired, also when the holder is this one: a lease is not re-entrant.
    if (latest && !latest.releasedAt && latest.expiresAt.getTime() >= started) return null;
    const epoch = (latest?.epoch ?? 0) + 1;
    const claimed = await this.table.insert({
      _id: epochId(name, epoch),
      name,
      epoch,
      holder,
      expiresAt: new Date(started + ttlMs),
      acquiredAt: new Date(started),
    } satisfies LeaseDocument);
    if (!claimed) return null;
    await this.table.raise(hintId(name), 'epoch', epoch, { epoch });
    return { name, epoch, holder, expiresAt: started + ttlMs, validUntil: started + ttlMs * (1 - this.marginShare) };
  }

  /** Extends a held lease; null when it can no longer be trusted (too late, or a successor exists). */
  async renew(lease: Lease, ttlMs: number): Promise<Lease | null> {
    const started = this.now();
    if (started >= lease.validUntil) return null;
    const extended = await this.table.set(epochId(lease.name, lease.epoch), { expiresAt: new Date(started + ttlMs) });
    // Landed after others could see the old expiry pass: someone may have read it as free.
    if (!extended || this.now() >= lease.validUntil) return null;
    if (await this.table.find(epochId(lease.name, lease.epoch + 1))) return null;
    return { ...lease, expiresAt: started + ttlMs, validUntil: started + ttlMs * (1 - this.marginShare) };
  }

  /** Gives the lease up now, so the next claimant need not wait for it to expire. */
  async release(lease: Lease): Promise<void> {
    await this.table.set(epochId(lease.name, lease.epoch), { expiresAt: new Date(0), releasedAt: new Date() });
  }

  /** The newest epoch's document of `name`: from the hint, then forward while newer epochs exist. */
  private async latest(name: string): Promise<LeaseDocument | null> {
    const hint = await this.table.find(hintId(name));
    let epoch = typeof hint?.epoch === 'number' ? hint.epoch : 0;
    let latest = epoch > 0 ? ((await this.table.find(epochId(name, epoch))) as LeaseDocument | null) : null;
    for (;;) {
      const next = (await this.table.find(epochId(name, epoch + 1))) as LeaseDocument | null;
      if (!next) return latest;
      epoch += 1;
      latest = next;
    }
  }
}

/** Work done under a lease: `lease` is the current (renewed) one; `signal` aborts when it is lost. */
export interface LeaseScope {
  readonly lease: Lease;
  readonly signal: AbortSignal;
  /** Throws LeaseLostError when the lease can no longer be trusted; call it before each effect that needs it. */
  assertHeld(): void;
}

/**
 * Runs `work` while holding the lease, renewing it every third of its time-to-live and releasing it afterwards.
 * Returns `{ held: false }` without running `work` when another holder has it.
 */
export async function withLease<T>(
  leases: Leases,
  name: string,
  holder: string,
  ttlMs: number,
  work: (scope: LeaseScope) => Promise<T>,
  now: () => number = Date.now,
): Promise<{ held: true; value: T } | { held: false }> {
  const acquired = await leases.acquire(name, holder, ttlMs);
  if (!acquired) return { held: false };
  const controller = new AbortController();
  let current = acquired;
  let renewing: Promise<void> = Promise.resolve();
  const timer = setInterval(
    () => {
      renewing = renewing
        .then(async () => {
          if (controller.signal.aborted) return;
          const renewed = await leases.renew(current, ttlMs);
          if (renewed) current = renewed;
          else controller.abort(new LeaseLostError(name, current.epoch));
        })
        .catch((error: unknown) => {
          // A renewal that failed leaves the lease valid until its validUntil; assertHeld watches the clock.
          if (now() >= current.validUntil) controller.abort(error);
        });
    },
    Math.max(1, Math.floor(ttlMs / 3)),
  );
  timer.unref();
  const scope: LeaseScope = {
    get lease() {
      return current;
    },
    signal: controller.signal,
    assertHeld() {
      if (controller.signal.aborted || now() >= current.validUntil) throw new LeaseLostError(name, current.epoch);
    },
  };
  try {
    return { held: true, value: await work(scope) };
  } finally {
    clearInterval(timer);
    await renewing;
    if (!controller.signal.aborted) await leases.release(current).catch(() => undefined);
  }
}

/** The collection every service's leases live in. */
export const LEASES_COLLECTION = 'coordination_leases';

/** The leases of a service, in LEASES_COLLECTION of its document store. */
export function leasesOn(connection: Connection, options: LeasesOptions = {}): Leases {
  return new Leases(mongoKeyedTable(connection, LEASES_COLLECTION), options);
}

/** A holder name unique to this process (and readable in the lease documents): service, host, pid, random. */
export function processHolderId(service: string): string {
  return `${service}/${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
}
