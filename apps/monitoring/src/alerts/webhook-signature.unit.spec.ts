import { describe, expect, it } from 'vitest';
import { signWebhookBody, verifyWebhookSignature, webhookConfigProblems } from './webhook-signature';

const SECRET = 'a-webhook-secret-of-at-least-32-characters';

describe('webhook signatures', () => {
  it('signs the raw body with HMAC-SHA256 and verifies it, refusing any change', () => {
    const body = '{"alertKey":"p:feature-drift:v1:w"}';
    const signature = signWebhookBody(body, SECRET);
    // RFC 4231-style check against node's HMAC with a known vector.
    expect(signWebhookBody('what do ya want for nothing?', 'Jefe')).toBe(
      'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(body, signature, SECRET)).toBe(true);
    expect(verifyWebhookSignature(`${body} `, signature, SECRET)).toBe(false);
    expect(verifyWebhookSignature(body, signature, `${SECRET}x`)).toBe(false);
    expect(verifyWebhookSignature(body, undefined, SECRET)).toBe(false);
  });

  it('refuses webhook URLs without a strong secret, and URLs that are not http(s)', () => {
    expect(webhookConfigProblems({ ALERT_WEBHOOK_URLS: [] })).toEqual([]);
    expect(
      webhookConfigProblems({ ALERT_WEBHOOK_URLS: ['https://hooks.example/keel'], ALERT_WEBHOOK_SECRET: SECRET }),
    ).toEqual([]);
    expect(webhookConfigProblems({ ALERT_WEBHOOK_URLS: ['https://hooks.example/keel'] })).toEqual([
      { variable: 'ALERT_WEBHOOK_SECRET', problem: 'is required when ALERT_WEBHOOK_URLS is set' },
    ]);
    expect(
      webhookConfigProblems({ ALERT_WEBHOOK_URLS: ['ftp://x', 'not a url'], ALERT_WEBHOOK_SECRET: 'short' }).map(
        (p) => p.problem,
      ),
    ).toEqual([
      '"ftp://x" is not an http(s) URL',
      '"not a url" is not an http(s) URL',
      'must be at least 32 characters (got 5)',
    ]);
  });
});
