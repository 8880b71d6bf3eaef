/** A bucket and key parsed from `s3://bucket/key`. */
export interface ObjectLocation {
  bucket: string;
  key: string;
}

export function formatObjectUri({ bucket, key }: ObjectLocation): string {
  return `s3://${bucket}/${key}`;
}

export function parseObjectUri(uri: string): ObjectLocation {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!match) throw new Error(`not an s3://bucket/key URI: ${uri}`);
  return { bucket: match[1], key: match[2] };
}

/** The sha256 embedded in a content-addressed key (`.../<sha256>.<ext>`), if any. */
export function sha256InKey(key: string): string | undefined {
  return /(?:^|\/)([0-9a-f]{64})(?:\.[a-z0-9.]+)?$/.exec(key)?.[1];
}
