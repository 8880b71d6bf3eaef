import {
  type EventData,
  type FeaturesMaterializedV1,
  joinDefinitionSha256,
  type PipelineSpecV1,
} from '@keel/contracts';
import { NonRetryableError } from '@keel/messaging';

type FeaturesMaterialized = EventData<typeof FeaturesMaterializedV1>;

/**
 * The feature set was built with other joins than the spec declares now: retrying the same event will not help, a
 * new feature set under the spec will (training requests one: TrainingRunsService.requestWithCurrentJoins).
 */
export class JoinDefinitionChangedError extends NonRetryableError {
  constructor(
    message: string,
    /** The stored spec version that refused the set (read past the cache), once known. */
    readonly specVersion?: number,
  ) {
    super(message, 'join-definition-changed');
    this.name = 'JoinDefinitionChangedError';
  }
}

/**
 * Per joined table, the join definition hash (joinDefinitionSha256) the model trained on this feature set reads its
 * online view by: the one features built the feature set and the view with, as `features.materialized` names it, not
 * the spec's at training time. A spec re-applied in between would otherwise give the model a view nobody built (503
 * until the table's next version). A join whose only difference is the feature time the registry recorded since (the
 * table's timeColumn, which cannot move while joined, hashed as null before) is the same definition: the built hash.
 * Undefined for events of builds before they carried `joins` (the spec's hashes then). A feature set built with
 * another join (table, key, features or times) than the spec declares is refused: its rows are not what the spec's
 * model reads.
 */
export function builtJoinHashes(
  spec: PipelineSpecV1,
  features: Pick<FeaturesMaterialized, 'featureSetId' | 'joins'>,
): Record<string, string> | undefined {
  const built = features.joins;
  if (built === undefined) return undefined;
  const declared = spec.joins ?? [];
  const refuse = (what: string) =>
    new JoinDefinitionChangedError(
      `feature set ${features.featureSetId} was built with ${what} (the spec was re-applied since): a model trained ` +
        "on it would read online views of joins it was not built with; training is requested again to build a feature set with the spec's joins",
    );
  const hashes: Record<string, string> = {};
  for (const join of declared) {
    const entry = built.find((candidate) => candidate.tablePipelineId === join.pipeline);
    if (!entry) throw refuse(`no join to "${join.pipeline}", which the spec declares now`);
    const now = joinDefinitionSha256(join);
    const same =
      entry.joinSha256 === now ||
      (join.featureTime !== undefined &&
        entry.joinSha256 === joinDefinitionSha256({ ...join, featureTime: undefined }));
    if (!same) {
      throw refuse(
        `another definition of its join to "${join.pipeline}" (${entry.joinSha256.slice(0, 12)}…) than the spec's ` +
          `(${now.slice(0, 12)}…)`,
      );
    }
    hashes[join.pipeline] = entry.joinSha256;
  }
  const dropped = built.find((entry) => !declared.some((join) => join.pipeline === entry.tablePipelineId));
  if (dropped) throw refuse(`a join to "${dropped.tablePipelineId}", which the spec no longer declares`);
  return hashes;
}
