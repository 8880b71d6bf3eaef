import { z } from 'zod';
import { DatasetVersionId, PipelineId } from '../common';
import { defineEvent, type EventData } from '../event-contract';
import { TrainingReason } from '../training-window';
import { type TrainingRequestedV1 } from './training-requested';

/**
 * A request to train a pipeline again on its training window as it stands when the request arrives. `requestId` is
 * the idempotency key: the same request delivered twice (or sent twice) is one run; a new request after new data is a
 * new run on the new window.
 */
export const TrainingRequestedV2 = defineEvent({
  topic: 'mlops.training.requested.v2',
  description: 'A request to retrain a pipeline on its current training window, idempotent by requestId',
  schema: z.object({
    pipelineId: PipelineId,
    requestId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$/, 'must be 1-200 characters: letters, digits, . _ : @ / -'),
    reason: TrainingReason,
    requestedBy: z.string().min(1).max(200),
    details: z.string().max(2_000).optional(),
    /**
     * The validated dataset version that prompted the request (new data): its window must include it. Features may
     * hear of that version after the request (the two arrive on different topics), so it waits for it, retrying, rather
     * than resolving the window without it.
     */
    includesDatasetVersionId: DatasetVersionId.optional(),
    /**
     * The pipeline spec version the requester saw (training, re-requesting a feature set built with an older join
     * definition): features materializes under this version or a later one, never a cached older copy, retrying
     * until it reads it.
     */
    specVersion: z.number().int().positive().optional(),
    /**
     * The request this one replaces (training's re-request for a feature set refused for its joins): its outcome is
     * this request's, recorded under both ids.
     */
    supersedes: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$/, 'must be 1-200 characters: letters, digits, . _ : @ / -')
      .optional(),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 8 * 1024,
});

const V1_REASONS = {
  drift: 'feature-drift',
  performance: 'performance-drop',
  schedule: 'schedule',
  manual: 'manual',
  'new-data': 'new-data',
} as const satisfies Record<EventData<typeof TrainingRequestedV1>['reason'], TrainingReason>;

/**
 * A v1 request read as v2: its dedupeKey is the request id (so every repeat of a key is the one request), drift is
 * feature drift and performance a performance drop.
 */
export function upcastTrainingRequestedV1(
  request: EventData<typeof TrainingRequestedV1>,
): EventData<typeof TrainingRequestedV2> {
  return {
    pipelineId: request.pipelineId,
    requestId: request.dedupeKey.replace(/[^A-Za-z0-9._:@/-]/g, '-').replace(/^[^A-Za-z0-9]/, 'x'),
    reason: V1_REASONS[request.reason],
    requestedBy: request.requestedBy,
    ...(request.details === undefined ? {} : { details: request.details }),
  };
}
