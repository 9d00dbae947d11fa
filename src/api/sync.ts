// The sync API: ask for a sync of a connection (queued as a job, one at a time per connection)
// and read where it stands (records/sync-status.ts).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parse } from '../common/validate.ts';
import { SYNC_MODES } from '../jobs/sync-job.ts';
import { readSyncStatus, type SyncDeps, startSync } from '../records/sync-status.ts';
import { zodRoute } from './openapi.ts';

export type SyncRouteDeps = SyncDeps;

const idParams = z.object({
  id: z.string().regex(/^con_[A-Za-z0-9_-]{10,64}$/, 'is not a connection id'),
});
const syncBody = z
  .object({ mode: z.enum(SYNC_MODES).default('auto') })
  .strict()
  .default({ mode: 'auto' });

export function registerSyncRoutes(app: FastifyInstance, deps: SyncRouteDeps): void {
  const syncSchema = { params: idParams, body: syncBody };
  app.post('/api/connections/:id/sync', zodRoute(syncSchema), async (request, reply) => {
    const { id } = parse(idParams, request.params, 'path');
    const { mode } = parse(syncBody, request.body ?? undefined, 'body');
    return reply.code(202).send(await startSync(deps, id, mode));
  });

  app.get('/api/connections/:id/sync', zodRoute({ params: idParams }), async (request) => {
    const { id } = parse(idParams, request.params, 'path');
    return readSyncStatus(deps, id);
  });
}
