import { Injectable, type OnModuleInit } from '@nestjs/common';
import { HealthRegistry } from '@keel/service-runtime';
import { ModelStore } from './model-store';

/**
 * Serving's own readiness: the start-up sync is done and every alias the registry reports is served (or its version
 * was given up on as unusable). Reported by `/health` beside the dependencies, and by ServerReady over gRPC.
 */
@Injectable()
export class ModelsReadiness implements OnModuleInit {
  constructor(
    private readonly health: HealthRegistry,
    private readonly store: ModelStore,
  ) {}

  onModuleInit(): void {
    this.health.register({
      name: 'models',
      check: async () => {
        if (!this.store.isReady()) throw new Error(this.store.unreadyReason() ?? 'not ready');
      },
    });
  }
}
