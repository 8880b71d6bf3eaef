import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { type Logger } from 'pino';
import { AccessControl } from '../auth/access-control';
import { type GrpcDoorRules, guardGrpcService } from '../auth/grpc-access';
import { HealthRegistry } from '../health/health-registry';
import { ROOT_LOGGER } from '../infrastructure/logger.token';
import { answerMalformedRequests, tolerantDeserializers } from './malformed-requests';

export const GRPC_SERVER_OPTIONS = Symbol('GRPC_SERVER_OPTIONS');

export interface GrpcServerOptions {
  /** Port on which to serve; undefined for apps without a gRPC API. */
  port?: number;
  host: string;
  /** Largest message read (default 64 MiB); grpc-js refuses a larger one with RESOURCE_EXHAUSTED. */
  maxReceiveBytes?: number;
  /** Plaintext when absent; TLS or mutual TLS from `grpcServerCredentials`. */
  credentials?: ServerCredentials;
}

/**
 * The app's gRPC server on @grpc/grpc-js directly (rather than NestJS's gRPC transport), so we own status codes,
 * metadata and the standard `grpc.health.v1.Health` service. Apps add their services during module init; the server
 * starts once the app has bootstrapped. Its health follows readiness: polled, and at once when shutdown begins or the
 * process fails. On shutdown it stops taking calls and drains the ones in flight while the app's connections are
 * still open (module destroy), so their side effects (prediction logs) are flushed after.
 */
@Injectable()
export class GrpcServer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly server: Server;
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING' });
  private readonly serviceNames: string[] = [];
  private readonly definitions: { name: string; definition: ServiceDefinition; doors?: GrpcDoorRules }[] = [];
  private healthTimer?: NodeJS.Timeout;
  boundPort?: number;

  constructor(
    @Inject(GRPC_SERVER_OPTIONS) private readonly options: GrpcServerOptions,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
    private readonly registry: HealthRegistry,
    private readonly access: AccessControl,
  ) {
    this.server = new Server({ 'grpc.max_receive_message_length': options.maxReceiveBytes ?? 4 * 1024 * 1024 });
    this.health.addToServer(this.server);
    this.registry.onLifecycleChange(() => void this.refreshHealth());
  }

  /**
   * Registers a service implementation; `name` is its fully qualified name for health checks and door names. `doors`
   * says which role each method needs; a method it leaves out needs `admin`, so a new method is never open by accident.
   * A request that does not decode as its method's message is answered INVALID_ARGUMENT naming why (grpc-js alone
   * answers INTERNAL), before the access check, as grpc-js would: there is no request to check access against.
   */
  addService(
    name: string,
    definition: ServiceDefinition,
    implementation: UntypedServiceImplementation,
    doors?: GrpcDoorRules,
  ): void {
    const guarded = guardGrpcService(name, definition, implementation, doors, this.access);
    this.server.addService(tolerantDeserializers(definition), answerMalformedRequests(definition, guarded));
    this.definitions.push({ name, definition, doors });
    this.serviceNames.push(name);
  }

  /** Every method this server answers with the rule it needs (`admin` when its service gave none), for audits and tests. */
  doors(): { service: string; method: string; path: string; rule: GrpcDoorRules['methods'][string] }[] {
    return this.definitions.flatMap(({ name, definition, doors }) =>
      Object.entries(definition).map(([method, { path }]) => ({
        service: name,
        method,
        path,
        rule: doors?.methods[method] ?? 'admin',
      })),
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.options.port === undefined) return;
    this.boundPort = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(
        `${this.options.host}:${this.options.port}`,
        this.options.credentials ?? ServerCredentials.createInsecure(),
        (error, port) => (error ? reject(error) : resolve(port)),
      ),
    );
    await this.refreshHealth();
    this.healthTimer = setInterval(() => void this.refreshHealth(), 5_000);
    this.healthTimer.unref();
    this.logger.info({ port: this.boundPort, services: this.serviceNames }, 'gRPC server listening');
  }

  private async refreshHealth(): Promise<void> {
    if (this.boundPort === undefined) return;
    const ready = this.registry.accepting && (await this.registry.readiness()).status === 'ok';
    // Shutdown may have begun while the checks ran: it wins over their answer.
    const status = ready && this.registry.accepting ? 'SERVING' : 'NOT_SERVING';
    for (const name of ['', ...this.serviceNames]) this.health.setStatus(name, status);
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.healthTimer);
    if (this.boundPort === undefined) return;
    for (const name of ['', ...this.serviceNames]) this.health.setStatus(name, 'NOT_SERVING');
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 5_000);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }
}
