import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Query,
} from '@nestjs/common';
import { ManualRolloutAction, RolloutStrategy } from '@keel/contracts';
import { RequiresRole } from '@keel/service-runtime';
import { z } from 'zod';
import { RegistryInvalidArgumentError, RegistryNotFoundError } from '../models/model-queries.service';
import { RolloutTransitionRefusedError } from './rollout-machine';
import { type RolloutRevision, RolloutsService } from './rollouts.service';

const Actor = z.string().trim().min(1).max(200);
const Reason = z.string().trim().min(1).max(500);

/** Body of `POST /api/v1/models/<name>/rollouts`. */
const StartBody = z.object({
  version: z.number().int().positive(),
  strategy: RolloutStrategy.exclude(['replace']).optional(),
  actor: Actor,
  reason: Reason,
  /** Roll out a version again that already had a rollout (after a rollback, say). */
  restart: z.boolean().optional(),
});

/** Body of a manual control and of a staging result: who did it and why. */
const ControlBody = z.object({ actor: Actor, reason: Reason });
const StagingResultBody = ControlBody.extend({ passed: z.boolean() });

/** A rollout as the API answers it: its state and the number of the transition that produced it. */
const view = (stored: RolloutRevision) => ({ revision: stored.version, ...stored.state });

/**
 * Rollouts over HTTP: start one, read it and its transitions, control it by hand (promote, roll back, pause, resume,
 * abort, each with actor and reason), report a staging trial's result, and ask which version answered for an alias
 * at an instant.
 */
@Controller('api/v1/models/:name')
export class RolloutsController {
  constructor(private readonly rollouts: RolloutsService) {}

  @RequiresRole('deployer')
  @Post('rollouts')
  @HttpCode(200)
  async start(@Param('name') name: string, @Body() body: unknown) {
    const request = parse(StartBody, body);
    const { rollout, started } = await http(() => this.rollouts.start({ modelName: name, ...request }));
    return { ...view(rollout), started };
  }

  @Get('rollout')
  async current(@Param('name') name: string) {
    const current = await http(() => this.rollouts.current(name));
    if (!current) throw new NotFoundException({ error: `model "${name}" has no rollout` });
    return view(current);
  }

  @Get('rollout/history')
  async history(@Param('name') name: string, @Query('rolloutId') rolloutId?: string) {
    return { modelName: name, transitions: (await http(() => this.rollouts.history(name, rolloutId))).map(view) };
  }

  @RequiresRole('deployer')
  @Post('rollout/staging-result')
  @HttpCode(200)
  async stagingResult(@Param('name') name: string, @Body() body: unknown) {
    const { passed, actor, reason } = parse(StagingResultBody, body);
    return view(
      await http(() => this.rollouts.transition(name, passed ? 'staging-passed' : 'staging-failed', { actor, reason })),
    );
  }

  @RequiresRole('deployer')
  @Post('rollout/:action')
  @HttpCode(200)
  async control(@Param('name') name: string, @Param('action') action: string, @Body() body: unknown) {
    const manual = ManualRolloutAction.safeParse(action);
    if (!manual.success) {
      throw new NotFoundException({
        error: `no rollout action "${action}" (${ManualRolloutAction.options.join(', ')})`,
      });
    }
    const { actor, reason } = parse(ControlBody, body);
    return view(await http(() => this.rollouts.control(name, manual.data, actor, reason)));
  }

  /** `?at=<ISO instant>`: the version(s) that answered for the alias then, with their shares of traffic. */
  @Get('aliases/:alias/answered')
  async answered(@Param('name') name: string, @Param('alias') alias: string, @Query('at') at?: string) {
    if (!at) throw new BadRequestException({ error: 'invalid request', issues: ['at: is required (ISO 8601)'] });
    return http(() => this.rollouts.answeredAt(name, alias, new Date(at)));
  }
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    throw new BadRequestException({
      error: 'invalid request',
      issues: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`),
    });
  }
  return parsed.data;
}

async function http<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof RegistryNotFoundError) throw new NotFoundException({ error: error.message });
    if (error instanceof RegistryInvalidArgumentError) {
      throw new BadRequestException({ error: 'invalid request', issues: [error.message] });
    }
    if (error instanceof RolloutTransitionRefusedError) throw new ConflictException({ error: error.message });
    throw error;
  }
}
