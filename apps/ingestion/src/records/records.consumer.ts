import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { DataRecordsV1 } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { RECORDS_GROUP } from './records-group';
import { RecordsService } from './records.service';

/**
 * Subscribes to mlops.data.records.v1 in batches (what a fetch brought for the partition): the messaging lib
 * validates, deduplicates, retries and dead-letters, and commits once per batch.
 */
@Injectable()
export class RecordsConsumer implements OnApplicationBootstrap {
  constructor(
    private readonly infra: Infrastructure,
    private readonly records: RecordsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const consumer = this.infra.createConsumer(RECORDS_GROUP);
    consumer.onBatch(DataRecordsV1, (events) => this.records.ingest(events));
    await consumer.start();
  }
}
