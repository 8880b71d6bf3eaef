import { Controller, Get, Param } from '@nestjs/common';
import { WellKnownAlias } from '@keel/contracts';
import { AliasesRepository } from '../models/aliases.repository';
import { environmentOf, isFinal } from '../rollouts/rollout-machine';
import { RolloutsService } from '../rollouts/rollouts.service';

/**
 * A model's two targets: staging (what the `staging` alias points at, the version on trial) and production (the
 * champion, and the rollout under way with the candidate's share of traffic).
 */
@Controller('api/v1/models/:name/environments')
export class EnvironmentsController {
  constructor(
    private readonly aliases: AliasesRepository,
    private readonly rollouts: RolloutsService,
  ) {}

  @Get()
  async environments(@Param('name') name: string) {
    const [staging, champion, rollout] = await Promise.all([
      this.aliases.get(name, WellKnownAlias.STAGING),
      this.aliases.get(name, WellKnownAlias.CHAMPION),
      this.rollouts.current(name),
    ]);
    const active = rollout && !isFinal(rollout.state.state) ? rollout.state : undefined;
    return {
      modelName: name,
      staging: {
        alias: WellKnownAlias.STAGING,
        version: staging?.version ?? null,
        trial: active && environmentOf(active) === 'staging' ? active.rolloutId : null,
      },
      production: {
        alias: WellKnownAlias.CHAMPION,
        version: champion?.version ?? null,
        rollout: active
          ? {
              rolloutId: active.rolloutId,
              strategy: active.strategy,
              state: active.state,
              candidateVersion: active.candidateVersion,
              candidateWeight: active.candidateWeight,
              mirrored: active.mirrored,
              stickyKey: active.strategy === 'ab' ? active.plan.ab.stickyKey : null,
            }
          : null,
      },
    };
  }
}
