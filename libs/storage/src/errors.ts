/** Bytes read back do not hash to the sha256 their key promises: the object was altered or truncated. */
export class IntegrityError extends Error {
  constructor(
    readonly uri: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`integrity check failed for ${uri}: expected sha256 ${expected}, got ${actual}`);
    this.name = 'IntegrityError';
  }
}

export class ObjectNotFoundError extends Error {
  constructor(readonly uri: string) {
    super(`object not found: ${uri}`);
    this.name = 'ObjectNotFoundError';
  }
}
