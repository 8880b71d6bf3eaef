import { z } from 'zod';
import { ModelVersionNumber, PipelineId, Timestamp } from '../common';
import { defineEvent } from '../event-contract';

/** What an alert is about. */
export const AlertKind = z.enum([
  'feature-drift',
  'prediction-drift',
  'performance-drop',
  'concept-drift',
  'dataset-rejected',
  'training-failed',
  'gate-rejected',
  'rollout-rolled-back',
]);
export type AlertKind = z.infer<typeof AlertKind>;

export const AlertSeverity = z.enum(['info', 'warning', 'critical']);
export type AlertSeverity = z.infer<typeof AlertSeverity>;

/**
 * Something an operator should know about a pipeline, raised by monitoring from the platform's events. `alertKey` is
 * the deduplication key: every raising of the same condition (a redelivered event, a re-evaluated window) carries the
 * same key, and receivers (webhooks, Alertmanager-style routers) treat repeats of a key as one alert.
 */
export const AlertRaisedV1 = defineEvent({
  topic: 'mlops.alert.raised.v1',
  description:
    'An alert about a pipeline (drift, performance, concept drift, rejected data, failed training, gates, rollbacks)',
  schema: z.object({
    alertKey: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,299}$/, 'must be 1-300 characters: letters, digits, . _ : @ / -'),
    kind: AlertKind,
    severity: AlertSeverity,
    pipelineId: PipelineId,
    modelName: z.string().min(1).optional(),
    modelVersion: ModelVersionNumber.optional(),
    summary: z.string().min(1).max(500),
    /** Figures behind the alert: statistic values, thresholds, rows, reasons. */
    details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).default({}),
    /** W3C trace id of the event that raised it, to open the trace in Jaeger. */
    traceId: z
      .string()
      .regex(/^[0-9a-f]{32}$/)
      .optional(),
    raisedAt: Timestamp,
  }),
  key: (data) => data.pipelineId,
  maxBytes: 16 * 1024,
});
