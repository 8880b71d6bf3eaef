import { readFileSync } from 'node:fs';
import { type ChannelCredentials, credentials, ServerCredentials } from '@grpc/grpc-js';
import { ConfigError } from '@keel/config';

/** The gRPC TLS variables of the platform environment (see GRPC_TLS_* in libs/config). */
export interface GrpcTlsConfig {
  GRPC_TLS_CERT_FILE?: string;
  GRPC_TLS_KEY_FILE?: string;
  GRPC_TLS_CA_FILE?: string;
}

/**
 * What the service listens with: plaintext without a certificate; TLS with one; mutual TLS (client certificates
 * required and verified against the CA) with a CA bundle too. Files are read once, at start-up; an unreadable or
 * non-PEM file is a configuration error naming its variable.
 */
export function grpcServerCredentials(config: GrpcTlsConfig): ServerCredentials {
  const own = ownCertificate(config);
  if (!own) return ServerCredentials.createInsecure();
  const ca = config.GRPC_TLS_CA_FILE ? readPem('GRPC_TLS_CA_FILE', config.GRPC_TLS_CA_FILE) : null;
  return ServerCredentials.createSsl(ca, [{ cert_chain: own.cert, private_key: own.key }], ca !== null);
}

/**
 * What the service's gRPC clients (the registry client, the staging validator's serving client) connect with:
 * plaintext when no TLS variable is set; otherwise TLS, verifying the server against the CA bundle (or the system's
 * roots without one) and presenting the service's own certificate for servers that ask for it. The server's
 * certificate must name the host of the address dialled (a subjectAltName such as `registry.keel.svc`).
 */
export function grpcChannelCredentials(config: GrpcTlsConfig): ChannelCredentials {
  if (!config.GRPC_TLS_CERT_FILE && !config.GRPC_TLS_CA_FILE) return credentials.createInsecure();
  const own = ownCertificate(config);
  const ca = config.GRPC_TLS_CA_FILE ? readPem('GRPC_TLS_CA_FILE', config.GRPC_TLS_CA_FILE) : null;
  return credentials.createSsl(ca, own?.key ?? null, own?.cert ?? null);
}

function ownCertificate(config: GrpcTlsConfig): { cert: Buffer; key: Buffer } | undefined {
  if (!config.GRPC_TLS_CERT_FILE || !config.GRPC_TLS_KEY_FILE) return undefined;
  return {
    cert: readPem('GRPC_TLS_CERT_FILE', config.GRPC_TLS_CERT_FILE),
    key: readPem('GRPC_TLS_KEY_FILE', config.GRPC_TLS_KEY_FILE),
  };
}

/** A mounted PEM file; checked for a PEM block here so a wrong mount fails at start-up, naming its variable. */
function readPem(variable: string, path: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (error) {
    throw new ConfigError([
      { variable, problem: `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})` },
    ]);
  }
  if (!pem.includes('-----BEGIN ')) throw new ConfigError([{ variable, problem: `${path} holds no PEM block` }]);
  return pem;
}
