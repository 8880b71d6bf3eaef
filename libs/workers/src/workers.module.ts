import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { ROOT_LOGGER, SERVICE_CONFIG } from '@keel/service-runtime';
import { type Logger } from 'pino';
import { type WorkerConfig } from './worker-env';
import { WorkerPool } from './worker-pool';

/**
 * The service's {@link WorkerPool}, sized by `WORKER_THREADS` from its validated config (add `workerEnvShape` to
 * the config schema); closed when the application shuts down.
 */
@Global()
@Module({
  providers: [
    {
      provide: WorkerPool,
      inject: [SERVICE_CONFIG, ROOT_LOGGER],
      useFactory: (config: WorkerConfig, logger: Logger) =>
        new WorkerPool({ threads: config.WORKER_THREADS, logger: logger.child({ component: 'workers' }) }),
    },
  ],
  exports: [WorkerPool],
})
export class WorkersModule implements OnApplicationShutdown {
  constructor(@Inject(WorkerPool) private readonly pool: WorkerPool) {}

  async onApplicationShutdown(): Promise<void> {
    await this.pool.close();
  }
}
