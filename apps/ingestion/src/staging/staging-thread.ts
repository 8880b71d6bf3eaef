import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { WorkerPool } from '@keel/workers';

/**
 * The thread that turns Kafka record fetches into staged rows (records/prepare-records.task.ts) and encodes their
 * cuts (cut-encode.task.ts): one thread for both, so the rows it checked stay in its memory until their cut encodes
 * them (checked-rows-cache.ts) instead of being parsed back from their staged JSON. Its own thread, not the service's
 * pool, whose thread CSV uploads, diffs and source pulls use: they would hold the consumer's fetches behind them.
 */
@Injectable()
export class StagingThread implements OnApplicationShutdown {
  readonly pool = new WorkerPool({ threads: 1 });

  async onApplicationShutdown(): Promise<void> {
    await this.pool.close();
  }
}
