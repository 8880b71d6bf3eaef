/** DI token of the app's validated configuration (its schema's output). */
export const SERVICE_CONFIG = Symbol('SERVICE_CONFIG');
/** DI token of the service's identity: name and version. */
export const SERVICE_IDENTITY = Symbol('SERVICE_IDENTITY');

export interface ServiceIdentity {
  name: string;
  version: string;
}
