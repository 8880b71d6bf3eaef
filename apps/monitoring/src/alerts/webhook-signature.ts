import { createHmac, timingSafeEqual } from 'node:crypto';

/** Header carrying a webhook body's signature: `sha256=<hex HMAC-SHA256 of the raw body under the shared secret>`. */
export const SIGNATURE_HEADER = 'x-keel-signature-256';
/** Header carrying the alert's deduplication key: a receiver treats repeats of a key as one alert. */
export const ALERT_KEY_HEADER = 'x-keel-alert-key';

/** The signature header value of a body. */
export function signWebhookBody(body: string | Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Whether a received body carries a valid signature (constant-time comparison), as a receiver checks it. */
export function verifyWebhookSignature(body: string | Buffer, signature: string | undefined, secret: string): boolean {
  if (!signature) return false;
  const expected = Buffer.from(signWebhookBody(body, secret));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** Problems with the webhook settings, in ConfigError's shape: checked at start-up. */
export function webhookConfigProblems(config: {
  ALERT_WEBHOOK_URLS: string[];
  ALERT_WEBHOOK_SECRET?: string | undefined;
}): { variable: string; problem: string }[] {
  const problems: { variable: string; problem: string }[] = [];
  for (const url of config.ALERT_WEBHOOK_URLS) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
      problems.push({ variable: 'ALERT_WEBHOOK_URLS', problem: `"${url}" is not an http(s) URL` });
    }
  }
  const secret = config.ALERT_WEBHOOK_SECRET;
  if (config.ALERT_WEBHOOK_URLS.length > 0 && secret === undefined) {
    problems.push({ variable: 'ALERT_WEBHOOK_SECRET', problem: 'is required when ALERT_WEBHOOK_URLS is set' });
  } else if (secret !== undefined && secret.length < 32) {
    problems.push({
      variable: 'ALERT_WEBHOOK_SECRET',
      problem: `must be at least 32 characters (got ${secret.length})`,
    });
  }
  return problems;
}
