/** The version a pipeline's `champion` alias points at, and where its package lives. */
export interface ChampionRef {
  pipelineId: string;
  modelName: string;
  version: number;
  /** `s3://keel-models/...` content-addressed key: reads verify the bytes against the sha256 in the key. */
  packageUri: string;
  packageSha256: string;
}

/**
 * Where serving learns which version to serve. Production asks the registry over gRPC; tests plug in their own.
 * Resolves undefined when the pipeline has no champion yet; rejects when the answer is unknown (registry down).
 */
export interface ChampionResolver {
  resolveChampion(pipelineId: string): Promise<ChampionRef | undefined>;
}

/** DI token of the {@link ChampionResolver}. */
export const CHAMPION_RESOLVER = Symbol('CHAMPION_RESOLVER');
