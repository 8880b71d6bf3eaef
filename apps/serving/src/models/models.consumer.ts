import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { ModelAliasChangedV1 } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { ModelLoaderService } from './model-loader.service';

/**
 * Follows alias moves (any alias) on mlops.model.alias-changed.v1. Every replica must see every move, so the consumer group
 * is unique per process; it starts at the latest offset because the start-up sync (run after the group has joined)
 * already covers everything that happened before.
 */
@Injectable()
export class ModelsConsumer implements OnApplicationBootstrap {
  constructor(
    private readonly infra: Infrastructure,
    private readonly loader: ModelLoaderService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const instance = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    // Readiness does not wait on it: while the broker is down, the periodic resync still follows the registry.
    const consumer = this.infra.createConsumer(`models-${instance}`, {
      fromBeginning: false,
      gatesReadiness: false,
      ephemeralGroup: true,
    });
    // Runs inside the consumer span, so 'load model' joins the trace of the run that moved the alias.
    // Whichever alias moved, the sync converges every alias of the model on the registry's answer.
    consumer.on(ModelAliasChangedV1, async (event) => void (await this.loader.sync(event.data.pipelineId)));
    await consumer.start();
    // Not awaited: the gRPC server should come up (ServerLive) while models load; ServerReady reports when done.
    void this.loader.syncAll().then(() => this.loader.resyncPeriodically());
  }
}
