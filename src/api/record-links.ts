// `POST /api/connections/{id}/record-link`: a short-lived signed link an app hands its patient to
// open the read-only record view, bound to one connection.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DEFAULT_LINK_TTL_MS, MAX_LINK_TTL_MS, recordLinksOf } from '../access/record-link.ts';
import type { Clock } from '../common/clock.ts';
import type { Sealer } from '../common/seal.ts';
import { parse } from '../common/validate.ts';
import type { Config } from '../config/schema.ts';
import { zodRoute } from './openapi.ts';

export interface RecordLinkDeps {
  config: Pick<Config, 'publicUrl'>;
  clock: Clock;
  sealer: Pick<Sealer, 'deriveKey'>;
}

const linkBody = z
  .object({
    /** How long the link works, in seconds: 60 to 3600, 900 when left out. */
    ttlSeconds: z
      .number()
      .int()
      .min(60)
      .max(MAX_LINK_TTL_MS / 1000)
      .optional(),
  })
  .default({});
const connectionParams = z.object({ id: z.string().regex(/^con_[A-Za-z0-9_-]{10,64}$/) });

/**
 * `POST /api/connections/{id}/record-link` (inside the API-key scope: an app key for its own
 * connections, as every `/api/connections/{id}` route): a link to the patient's record view.
 */
export function registerRecordLinkApi(app: FastifyInstance, deps: RecordLinkDeps): void {
  const links = recordLinksOf(deps.sealer);
  app.post(
    '/api/connections/:id/record-link',
    zodRoute({ params: connectionParams, body: linkBody }),
    async (request, reply) => {
      const { id } = parse(connectionParams, request.params, 'path');
      const { ttlSeconds } = parse(linkBody, request.body ?? {}, 'body');
      const expiresAt = deps.clock.now() + (ttlSeconds ? ttlSeconds * 1000 : DEFAULT_LINK_TTL_MS);
      const token = links.sign(id, expiresAt);
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({
          url: `${deps.config.publicUrl}/record/${token}`,
          expiresAt: new Date(Math.floor(expiresAt / 1000) * 1000).toISOString(),
        });
    },
  );
}
