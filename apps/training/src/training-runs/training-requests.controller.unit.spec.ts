import { BadRequestException } from '@nestjs/common';
import { NotAModelPipelineError } from '@keel/pipelines';
import { type Infrastructure } from '@keel/service-runtime';
import { describe, expect, it, vi } from 'vitest';
import { TrainingRequestsController } from './training-requests.controller';
import { type TrainingRunsRepository } from './training-runs.repository';
import { type TrainingRunsService } from './training-runs.service';

describe('TrainingRequestsController.create', () => {
  const get = vi.fn(async (pipelineId: string) => {
    if (pipelineId === 'customers') throw new NotAModelPipelineError(pipelineId);
    return { version: 3 };
  });
  const request = vi.fn(async () => undefined);
  const controller = new TrainingRequestsController(
    { pipelines: { getModelPipeline: get } } as unknown as Infrastructure,
    { request } as unknown as TrainingRunsService,
    {} as TrainingRunsRepository,
  );

  it('refuses a JSON array before spreading it into a request (a 1 MiB one held the loop ~300 ms)', async () => {
    await expect(controller.create('adult-income', Array(500_000).fill(1))).rejects.toThrow(BadRequestException);
    await expect(controller.create('adult-income', [])).rejects.toThrow(/must be a JSON object/);
    expect(get).not.toHaveBeenCalled();
  });

  it('refuses a body with more fields than a training request has, naming the count', async () => {
    const body = Object.fromEntries(Array.from({ length: 80_000 }, (_, i) => [`k${i}`, 1]));
    await expect(controller.create('adult-income', body)).rejects.toThrow(
      /80000 fields; a training request has at most 32/,
    );
    expect(get).not.toHaveBeenCalled();
  });

  it('takes a request with its own fields', async () => {
    const answer = await controller.create('adult-income', { reason: 'manual', requestId: 'r-1' });
    expect(answer).toMatchObject({ pipelineId: 'adult-income', requestId: 'r-1' });
    expect(request).toHaveBeenCalledOnce();
  });

  it('refuses a spec version the pipeline never reached: features would wait for it', async () => {
    await expect(controller.create('adult-income', { requestId: 'r-2', specVersion: 4 })).rejects.toThrow(
      /specVersion 4: pipeline "adult-income" is at version 3/,
    );
    expect(request).not.toHaveBeenCalledWith(expect.objectContaining({ requestId: 'r-2' }));
    await controller.create('adult-income', { requestId: 'r-3', specVersion: 3 });
    expect(request).toHaveBeenCalledWith(expect.objectContaining({ requestId: 'r-3', specVersion: 3 }));
  });

  it('refuses a request naming a feature table: it has no model to train', async () => {
    await expect(controller.create('customers', {})).rejects.toThrow(BadRequestException);
    await expect(controller.create('customers', {})).rejects.toThrow(/is a feature table/);
    expect(request).not.toHaveBeenCalledWith(expect.objectContaining({ pipelineId: 'customers' }));
  });
});
