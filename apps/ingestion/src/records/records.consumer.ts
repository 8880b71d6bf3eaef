import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { DataRecordsV1 } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { RECORDS_GROUP } from './records-group';
import { RecordsService } from './records.service';

/**
 * Subscribes to mlops.data.records.v1 in batches (what a fetch brought for the partition), decoded and checked on a
 * worker thread (`RecordsService.prepare`): the messaging lib deduplicates, retries and dead-letters (a record the
 * thread does not take goes the lib's per-record way, which decodes it and dead-letters it with the reason), and
 * commits once per batch.
 */
@Injectable()
export class RecordsConsumer implements OnApplicationBootstrap {
  constructor(
    private readonly infra: Infrastructure,
    private readonly records: RecordsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const consumer = this.infra.createConsumer(RECORDS_GROUP);
    consumer.onPreparedBatch(DataRecordsV1, {
      prepare: (records, limits) => this.records.prepare(records, limits),
      handle: (events) => this.records.ingestPrepared(events),
      handleOne: (event) => this.records.ingest([event]),
    });
    await this.records.warm();
    await consumer.start();
  }
}
