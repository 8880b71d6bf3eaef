import { Injectable } from '@nestjs/common';
import { AlertRaisedV1, type PipelineSpec } from '@keel/contracts';
import { UnknownPipelineError } from '@keel/pipelines';
import { Infrastructure } from '@keel/service-runtime';
import { KeelAttr } from '@keel/telemetry';
import { trace } from '@opentelemetry/api';
import { type AlertDraft } from './alert-rules';
import { AlertMetrics } from './alert.metrics';

/**
 * Raises alerts on the alerts topic, in the trace of the event that caused them. The CloudEvent id is derived from
 * the alert key, so every raising of one condition is one event to the webhook deliverer's deduplication.
 */
@Injectable()
export class AlertsService {
  constructor(
    private readonly infra: Infrastructure,
    private readonly metrics: AlertMetrics,
  ) {}

  /**
   * The pipeline's spec, or null for a pipeline nobody applied (its events raise nothing here). A feature table's
   * too: its rejected versions raise alerts like any pipeline's.
   */
  async specOf(pipelineId: string): Promise<PipelineSpec | null> {
    try {
      return (await this.infra.pipelines.get(pipelineId)).spec;
    } catch (error) {
      if (error instanceof UnknownPipelineError) return null;
      throw error;
    }
  }

  /** Publishes the alert unless the pipeline mutes its kind or turned alerts off; returns whether it was raised. */
  async raise(draft: AlertDraft, spec?: PipelineSpec | null): Promise<boolean> {
    const pipelineSpec = spec === undefined ? await this.specOf(draft.pipelineId) : spec;
    if (!pipelineSpec || !pipelineSpec.alerts.enabled || pipelineSpec.alerts.mute.includes(draft.kind)) return false;
    const active = trace.getActiveSpan();
    active?.setAttributes({ [KeelAttr.ALERT_KIND]: draft.kind, [KeelAttr.ALERT_KEY]: draft.alertKey });
    const traceId = active?.spanContext().traceId;
    await this.infra.publisher.publish(
      AlertRaisedV1,
      {
        ...draft,
        raisedAt: new Date().toISOString(),
        ...(traceId && /^[0-9a-f]{32}$/.test(traceId) && !/^0+$/.test(traceId) ? { traceId } : {}),
      },
      { id: `alert-${draft.alertKey}` },
    );
    this.metrics.raised.inc({ pipeline: draft.pipelineId, kind: draft.kind, severity: draft.severity });
    return true;
  }
}
