import { type MiddlewareConsumer, Module, type NestModule, RequestMethod } from '@nestjs/common';
import { PipelinesController } from './pipelines.controller';
import { PipelinesService } from './pipelines.service';
import { TextBodyMiddleware } from './text-body.middleware';

/** The pipeline-spec API: the one place specs are applied. */
@Module({ controllers: [PipelinesController], providers: [PipelinesService] })
export class PipelinesModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(TextBodyMiddleware).forRoutes({ path: 'api/v1/pipelines/*path', method: RequestMethod.PUT });
  }
}
