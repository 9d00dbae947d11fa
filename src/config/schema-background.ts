// The configuration of the background work (part of schema.ts): the job worker and scheduled
// syncs, webhook endpoints and their delivery, and the connection-expiring notice.
import { z } from 'zod';

const DAY = 24 * 3_600_000;

export const syncConfigSchema = z
  .object({
    /** Re-sync each active connection this long after its last sync ended; 0 = never. */
    intervalMs: z.number().int().min(0).default(DAY),
    /** Sync a connection as soon as it is connected (at the next schedule check). */
    onConnect: z.boolean().default(true),
    /** How often the schedule looks for connections due a sync. */
    checkIntervalMs: z.number().int().min(1000).default(60_000),
    /** Jobs this process runs at once; 0 = this process runs no jobs (an API-only process). */
    concurrency: z.number().int().min(0).max(64).default(2),
    /** How long a claimed job is held without a heartbeat before another process may take it. */
    leaseMs: z.number().int().min(1000).default(60_000),
    /** Runs of one job before it fails for good (a reclaim after a crash counts). */
    maxAttempts: z.number().int().min(1).max(100).default(5),
    /** Delay before the first retry; doubles per attempt, up to 30 minutes. */
    retryDelayMs: z.number().int().min(0).default(30_000),
    /** How often an idle worker looks for due jobs. */
    pollIntervalMs: z.number().int().min(50).default(1000),
    /** Progress is written to the job row at most this often. */
    progressIntervalMs: z.number().int().min(0).default(500),
    /** Each attempt of a sync's upstream request gets no longer than this. */
    requestTimeoutMs: z.number().int().min(100).default(30_000),
    /** One resource type's searches get no longer than this per run; then it is timed out. */
    typeDeadlineMs: z
      .number()
      .int()
      .min(100)
      .default(5 * 60_000),
    /** How long a practice's refusal of a query (400 "not supported") is remembered. */
    refusalTtlMs: z
      .number()
      .int()
      .min(0)
      .default(7 * DAY),
    /** After a sync fails for good, the next one is due this soon (not `intervalMs`). */
    retryAfterFailureMs: z.number().int().min(0).default(3_600_000),
  })
  .prefault({});

/** Standard Webhooks secrets: `whsec_` and base64 of 24 to 64 random bytes. */
export const webhookSecretSchema = z
  .string()
  .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'must be "whsec_" followed by base64')
  .refine((s) => {
    const bytes = Buffer.from(s.slice('whsec_'.length), 'base64').length;
    return bytes >= 24 && bytes <= 64;
  }, 'must hold 24 to 64 bytes');

export const webhookEndpointSchema = z.object({
  // Events name patients: https, or plain http only to this machine (a local receiver).
  url: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .refine(
      (u) =>
        u.startsWith('https://') ||
        /^http:\/\/(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?\//.test(`${u}/`),
      {
        error: 'must be https (plain http only to localhost)',
      },
    ),
  /** Also from FHIRBRIDGE_WEBHOOK_SECRET_<N>, N its place in the list from 0. */
  secret: webhookSecretSchema,
  /** Event types to send (`connection.*` for a family); all when absent. */
  events: z
    .array(z.string().regex(/^[a-z]+\.([a-z_]+|\*)$/, 'is not an event type or "family.*"'))
    .min(1)
    .optional(),
});

export const webhooksSchema = z
  .array(webhookEndpointSchema)
  .default([])
  .superRefine((endpoints, ctx) => {
    const seen = new Set<string>();
    for (const [i, e] of endpoints.entries()) {
      if (seen.has(e.url)) {
        ctx.addIssue({ code: 'custom', path: [i, 'url'], message: 'is configured twice' });
      }
      seen.add(e.url);
    }
  });

export const webhookDeliverySchema = z
  .object({
    /** Attempts before a delivery is dead-lettered. */
    maxAttempts: z.number().int().min(1).max(50).default(8),
    /** Delay after the first failed attempt; ×4 per attempt, up to maxDelayMs. */
    initialDelayMs: z.number().int().min(0).default(10_000),
    maxDelayMs: z
      .number()
      .int()
      .min(0)
      .default(10 * 3_600_000),
    /** An attempt that gets no answer in this time failed. */
    timeoutMs: z.number().int().min(100).default(10_000),
    /** How often the dispatcher looks for new events and due deliveries. */
    pollIntervalMs: z.number().int().min(50).default(1000),
  })
  .prefault({});

export const connectionExpirySchema = z
  .object({
    /** `connection.expiring` fires this many days before the refresh token's life ends. */
    noticeDays: z.number().min(0).max(89).default(7),
    checkIntervalMs: z.number().int().min(1000).default(3_600_000),
  })
  .prefault({});
