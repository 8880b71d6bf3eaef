/** An event names a pipeline nobody applied: retrying cannot help. */
export class UnknownPipelineError extends Error {
  readonly retryable = false;
  readonly code = 'unknown-pipeline';
  constructor(readonly pipelineId: string) {
    super(`unknown pipeline "${pipelineId}": apply its spec first`);
    this.name = 'UnknownPipelineError';
  }
}

/** A spec document that does not satisfy keel/v1; `issues` are `path: message` lines. */
export class InvalidPipelineSpecError extends Error {
  readonly retryable = false;
  readonly code = 'invalid-pipeline-spec';
  constructor(readonly issues: readonly string[]) {
    super(`invalid pipeline spec: ${issues.join('; ')}`);
    this.name = 'InvalidPipelineSpecError';
  }
}

/**
 * A model's event or request names a feature table (`kind: FeatureTable`), which has no model: nothing to train,
 * register, roll out or monitor. Retrying cannot help; a legitimate event about a table (its new data) is skipped by
 * its consumer before it gets here.
 */
export class NotAModelPipelineError extends Error {
  readonly retryable = false;
  readonly code = 'not-a-model-pipeline';
  constructor(readonly pipelineId: string) {
    super(`pipeline "${pipelineId}" is a feature table (kind FeatureTable): it has no model`);
    this.name = 'NotAModelPipelineError';
  }
}
