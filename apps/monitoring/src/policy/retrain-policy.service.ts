import { Inject, Injectable } from '@nestjs/common';
import { type DatasetVersionId, isFeatureTable, type PipelineId, TrainingRequestedV2 } from '@keel/contracts';
import { UnknownPipelineError } from '@keel/pipelines';
import { Infrastructure, ROOT_LOGGER } from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { trace } from '@opentelemetry/api';
import { type Logger } from 'pino';
import { RetrainDecisionsRepository } from './retrain-decisions.repository';
import {
  decide,
  INITIAL_POLICY_STATE,
  type PolicyOutcome,
  type RetrainDecision,
  type RetrainSignal,
} from './retrain-policy';
import { PolicyMetrics } from './policy.metrics';

/**
 * Applies a pipeline's retrain policy to each signal: advances its clocks, decides under compare-and-set, records the
 * decision and, when it fired, publishes the training request in the signal's trace (so a retrain is one trace from
 * its trigger to the alias move). A redelivered signal redoes the effects of its stored decision, never decides again.
 */
@Injectable()
export class RetrainPolicyService {
  private readonly logger: Logger;

  constructor(
    private readonly infra: Infrastructure,
    private readonly repository: RetrainDecisionsRepository,
    private readonly metrics: PolicyMetrics,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'retrain-policy' });
  }

  async onSignal(signal: RetrainSignal, now = Date.now()): Promise<RetrainDecision | null> {
    let spec;
    try {
      ({ spec } = await this.infra.pipelines.get(signal.pipelineId));
    } catch (error) {
      // Signals of a pipeline nobody applied cannot trigger anything; other consumers report the unknown pipeline.
      if (error instanceof UnknownPipelineError) return null;
      throw error;
    }
    if (isFeatureTable(spec)) {
      // A table's new data trains nothing of its own (the pipelines joining it train on their own data's events).
      this.logger.debug({ pipelineId: signal.pipelineId, signal: signal.signalId }, 'feature table: no retrain policy');
      return null;
    }
    const policy = spec.retrainPolicy;
    const attributes = { [KeelAttr.PIPELINE_ID]: signal.pipelineId, [KeelAttr.RETRAIN_SIGNAL]: signal.kind };
    return withSpan('retrain policy decide', attributes, async (span) => {
      let outcome: PolicyOutcome = { next: null, decision: null };
      await this.repository.states.update(signal.pipelineId, (current) => {
        outcome = decide(current?.state ?? INITIAL_POLICY_STATE, signal, policy, now);
        return outcome.next;
      });
      const decision = outcome.decision ?? outcome.replayOf?.decision ?? null;
      if (!decision) return null;
      span.setAttributes({
        [KeelAttr.RETRAIN_OUTCOME]: decision.outcome,
        [KeelAttr.RETRAIN_DECISION]: decision.sequence,
        ...(decision.requestId ? { [KeelAttr.TRAINING_REQUEST_ID]: decision.requestId } : {}),
      });
      const traceId = trace.getActiveSpan()?.spanContext().traceId;
      await this.repository.record({
        ...decision,
        pipelineId: signal.pipelineId,
        signalSummary: signal.summary.slice(0, 1_000),
        decidedAt: new Date(now),
        ...(traceId ? { traceId } : {}),
      });
      if (decision.outcome === 'fired' && decision.requestId) {
        await this.infra.publisher.publish(
          TrainingRequestedV2,
          {
            pipelineId: signal.pipelineId as PipelineId,
            requestId: decision.requestId,
            reason: decision.reason,
            requestedBy: 'monitoring/retrain-policy',
            details: decision.why.slice(0, 2_000),
            // A redelivered signal is the same signal, so its republished request names the same version.
            ...(signal.kind === 'new-data'
              ? { includesDatasetVersionId: signal.datasetVersionId as DatasetVersionId }
              : {}),
          },
          { id: `retrain-${decision.requestId}` },
        );
      }
      if (outcome.decision) {
        this.metrics.decisions.inc({ pipeline: signal.pipelineId, outcome: decision.outcome, reason: decision.reason });
        this.logger.info(
          { pipelineId: signal.pipelineId, sequence: decision.sequence, outcome: decision.outcome },
          `retrain ${decision.outcome}: ${decision.why}`,
        );
      }
      return decision;
    });
  }
}
