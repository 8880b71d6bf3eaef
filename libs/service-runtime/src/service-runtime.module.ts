import { type DynamicModule, Global, type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import { type Logger } from 'pino';
import { serializeError } from './logging';
import { AccessControl } from './auth/access-control';
import { HttpAccessGuard } from './auth/http-access.guard';
import { GRPC_SERVER_OPTIONS, GrpcServer, type GrpcServerOptions } from './grpc/grpc-server';
import { HealthController } from './health/health.controller';
import { HealthRegistry } from './health/health-registry';
import { Infrastructure } from './infrastructure/infrastructure';
import { ROOT_LOGGER } from './infrastructure/logger.token';
import { HttpMetricsMiddleware } from './metrics/http-metrics.middleware';
import { MetricsController } from './metrics/metrics.controller';
import { MetricsService } from './metrics/metrics.service';
import { SERVICE_CONFIG, SERVICE_IDENTITY, type ServiceIdentity } from './tokens';

export interface ServiceRuntimeOptions {
  identity: ServiceIdentity;
  config: object;
  logger: Logger;
  grpc: GrpcServerOptions;
}

/**
 * What every Keel service has: config, JSON logs, health, metrics, Kafka/Mongo/S3 connections, a gRPC host, and
 * access control on every HTTP route and gRPC method.
 */
@Global()
@Module({})
export class ServiceRuntimeModule implements NestModule {
  static forRoot(options: ServiceRuntimeOptions): DynamicModule {
    return {
      module: ServiceRuntimeModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            logger: options.logger,
            // pino-http sets its own error serializer on the loggers it makes; ours leaves request bodies out.
            serializers: { err: serializeError },
            autoLogging: { ignore: (request) => /^\/(health|metrics)/.test(request.url ?? '') },
          },
        }),
      ],
      controllers: [HealthController, MetricsController],
      providers: [
        { provide: SERVICE_IDENTITY, useValue: options.identity },
        { provide: SERVICE_CONFIG, useValue: options.config },
        { provide: ROOT_LOGGER, useValue: options.logger },
        { provide: GRPC_SERVER_OPTIONS, useValue: options.grpc },
        HealthRegistry,
        MetricsService,
        Infrastructure,
        GrpcServer,
        AccessControl,
        { provide: APP_GUARD, useClass: HttpAccessGuard },
      ],
      exports: [
        SERVICE_IDENTITY,
        SERVICE_CONFIG,
        ROOT_LOGGER,
        HealthRegistry,
        MetricsService,
        Infrastructure,
        GrpcServer,
        AccessControl,
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(HttpMetricsMiddleware).forRoutes('*path');
  }
}
