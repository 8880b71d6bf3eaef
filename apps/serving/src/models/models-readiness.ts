import { Injectable, type OnModuleInit } from '@nestjs/common';
import { HealthRegistry } from '@keel/service-runtime';
import { ModelStore } from './model-store';

/** Dependencies serving can answer without for a while: it predicts from the models in memory. */
const NOT_NEEDED_TO_ANSWER = ['kafka', 'mongodb', 'object-storage'];

/**
 * Serving's readiness is its models: the start-up sync is done and every alias the registry reports is served (or its
 * version was given up on as unusable); ServerReady over gRPC says the same. The storage, database and broker are
 * reported in `/health` but do not decide it: during their outage every replica keeps answering from memory, where
 * gating on them would take every serving pod out of rotation at once.
 */
@Injectable()
export class ModelsReadiness implements OnModuleInit {
  constructor(
    private readonly health: HealthRegistry,
    private readonly store: ModelStore,
  ) {}

  onModuleInit(): void {
    for (const name of NOT_NEEDED_TO_ANSWER) this.health.reportOnly(name);
    this.health.register({
      name: 'models',
      check: async () => {
        if (!this.store.isReady()) throw new Error(this.store.unreadyReason() ?? 'not ready');
      },
    });
  }
}
