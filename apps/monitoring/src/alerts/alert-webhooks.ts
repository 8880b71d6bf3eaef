import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ConfigError } from '@keel/config';
import { type AlertRaisedV1, type EventData } from '@keel/contracts';
import { isDuplicateKey } from '@keel/coordination';
import { backoffDelay, type RetryPolicy } from '@keel/messaging';
import { Infrastructure, ROOT_LOGGER, SERVICE_CONFIG } from '@keel/service-runtime';
import { type Logger } from 'pino';
import { type MonitoringConfig } from '../config';
import { AlertMetrics } from './alert.metrics';
import { ALERT_KEY_HEADER, SIGNATURE_HEADER, signWebhookBody, webhookConfigProblems } from './webhook-signature';

const DELIVERIES = 'alert_webhook_deliveries';
const BACKOFF: RetryPolicy = { initialDelayMs: 500, maxDelayMs: 8_000 };

/** A webhook that kept failing for every attempt: the alert is retried later by the consumer's own backoff. */
export class WebhookDeliveryError extends Error {
  readonly retryable = true;
  constructor(message: string) {
    super(message);
    this.name = 'WebhookDeliveryError';
  }
}

/**
 * POSTs each alert to every configured webhook, its body signed with HMAC-SHA256 under the shared secret. A delivery
 * that succeeded is recorded per alert key and URL, so a retried or redelivered alert reaches each receiver once;
 * a receiver still gets the key in a header to deduplicate on its side. A 4xx other than 408/429 is the receiver's
 * final answer (counted, not retried); network errors, timeouts and other statuses are retried with capped backoff.
 */
@Injectable()
export class AlertWebhooks implements OnModuleInit {
  private readonly logger: Logger;

  constructor(
    private readonly infra: Infrastructure,
    private readonly metrics: AlertMetrics,
    @Inject(SERVICE_CONFIG) private readonly config: MonitoringConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'alert-webhooks' });
  }

  /** Refuses to start on unusable webhook settings (exit 78 with the variables named). */
  onModuleInit(): void {
    const problems = webhookConfigProblems(this.config);
    if (problems.length > 0) throw new ConfigError(problems);
  }

  get configured(): boolean {
    return this.config.ALERT_WEBHOOK_URLS.length > 0;
  }

  async deliver(alert: EventData<typeof AlertRaisedV1>): Promise<void> {
    const secret = this.config.ALERT_WEBHOOK_SECRET;
    if (!this.configured || secret === undefined) return;
    const body = JSON.stringify(alert);
    const headers = {
      'content-type': 'application/json',
      [SIGNATURE_HEADER]: signWebhookBody(body, secret),
      [ALERT_KEY_HEADER]: alert.alertKey,
      'user-agent': 'keel-monitoring-alerts',
    };
    const failures: string[] = [];
    for (const url of this.config.ALERT_WEBHOOK_URLS) {
      const id = createHash('sha256').update(`${alert.alertKey}\n${url}`).digest('hex');
      if (await this.collection().findOne({ _id: id })) continue;
      const outcome = await this.post(url, body, headers);
      if (outcome === 'failed') {
        failures.push(url);
        continue;
      }
      try {
        await this.collection().insertOne({ _id: id, alertKey: alert.alertKey, url, outcome, at: new Date() });
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
    }
    if (failures.length > 0) {
      throw new WebhookDeliveryError(`alert ${alert.alertKey} not delivered to ${failures.join(', ')}`);
    }
  }

  private async post(
    url: string,
    body: string,
    headers: Record<string, string>,
  ): Promise<'delivered' | 'rejected' | 'failed'> {
    for (let attempt = 1; attempt <= this.config.ALERT_WEBHOOK_MAX_ATTEMPTS; attempt++) {
      let problem: string;
      try {
        const response = await fetch(url, {
          method: 'POST',
          body,
          headers,
          signal: AbortSignal.timeout(this.config.ALERT_WEBHOOK_TIMEOUT_MS),
        });
        await response.arrayBuffer().catch(() => undefined);
        if (response.ok) {
          this.metrics.webhookDeliveries.inc({ outcome: 'delivered' });
          return 'delivered';
        }
        if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
          this.metrics.webhookDeliveries.inc({ outcome: 'rejected' });
          this.logger.warn({ url, status: response.status }, 'alert webhook refused the alert; not retried');
          return 'rejected';
        }
        problem = `HTTP ${response.status}`;
      } catch (error) {
        problem = error instanceof Error ? error.message : String(error);
      }
      this.metrics.webhookDeliveries.inc({ outcome: 'failed' });
      this.logger.warn({ url, attempt, problem }, 'alert webhook attempt failed');
      if (attempt < this.config.ALERT_WEBHOOK_MAX_ATTEMPTS) await sleep(backoffDelay(BACKOFF, attempt));
    }
    return 'failed';
  }

  private collection() {
    return this.infra.mongo.collection<{ _id: string; alertKey: string; url: string; outcome: string; at: Date }>(
      DELIVERIES,
    );
  }
}
