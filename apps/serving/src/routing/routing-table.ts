/** How a model's default traffic is split while a rollout runs (from the registry's rollout state). */
export interface RoutingPlan {
  rolloutId: string;
  /** The version answering the rest of the traffic: the champion when the rollout started. */
  baselineVersion: number;
  candidateVersion: number;
  /** Share of requests the candidate answers, percent (0 for shadow). */
  candidateWeight: number;
  /** Whether the candidate gets a mirrored copy of every request the baseline answers (shadow). */
  mirrored: boolean;
  /** The rollout's transition number: a plan older than the one held is ignored. */
  revision: number;
}

/** Where one request goes: the version that answers, and the version that gets a mirrored copy, if any. */
export interface RouteDecision {
  version: number;
  mirror?: number;
}

/** 32-bit FNV-1a: cheap, stable across processes and restarts, well spread for short keys. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * The per-model routing plans and the per-request decision, kept cheap for the inference path: one Map lookup, and
 * for a split one hash of the sticky key (or a counter step when there is none). A keyed caller lands on the same arm
 * for the whole rollout, in every replica and across restarts, since the bucket is a hash of rollout id and key.
 * Unkeyed requests are spread by a counter walked in steps coprime with 100, so every 100 consecutive requests give
 * the candidate exactly its weight.
 */
export class RoutingTable {
  private readonly plans = new Map<string, RoutingPlan>();
  private counter = 0;

  /** Installs a model's plan unless a newer one is held; null (no active split) removes it. */
  set(modelName: string, plan: RoutingPlan | null, revision = plan?.revision ?? 0): void {
    const held = this.plans.get(modelName);
    if (held && held.revision > revision) return;
    if (plan && (plan.candidateWeight > 0 || plan.mirrored)) this.plans.set(modelName, plan);
    else this.plans.delete(modelName);
  }

  get(modelName: string): RoutingPlan | undefined {
    return this.plans.get(modelName);
  }

  route(modelName: string, stickyKey: string | undefined): RouteDecision | undefined {
    const plan = this.plans.get(modelName);
    if (!plan) return undefined;
    if (plan.mirrored) return { version: plan.baselineVersion, mirror: plan.candidateVersion };
    if (plan.candidateWeight >= 100) return { version: plan.candidateVersion };
    const bucket =
      stickyKey !== undefined
        ? fnv1a(`${plan.rolloutId}\u0000${stickyKey}`) % 100
        : (this.counter = (this.counter + 37) % 100);
    return { version: bucket < plan.candidateWeight ? plan.candidateVersion : plan.baselineVersion };
  }
}
