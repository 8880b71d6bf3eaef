import { Module } from '@nestjs/common';
import { PredictionArchive } from '../archive/prediction-archive';
import { DriftModule } from '../drift/drift.module';
import { CheckpointRepository } from './checkpoint.repository';
import { PredictionStreamConsumer } from './prediction-stream.consumer';
import { StreamMetrics } from './stream.metrics';
import { VersionSetups } from './version-setups';

/**
 * The prediction stream: v2 prediction logs into in-memory drift windows, checkpointed with their offsets, closed
 * windows handed to drift, served rows archived for the label join.
 */
@Module({
  imports: [DriftModule],
  providers: [PredictionStreamConsumer, CheckpointRepository, VersionSetups, StreamMetrics, PredictionArchive],
  exports: [PredictionStreamConsumer, CheckpointRepository, PredictionArchive],
})
export class StreamModule {}
