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
