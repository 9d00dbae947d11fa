// The static files of the pages, served by fhirbridge itself: nothing is fetched from another
// site at run time, and the pages' CSP allows scripts and styles from this origin only. A fixed
// table of names, read once when the routes are registered: no path from a URL reaches the disk.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BridgeError } from '../common/errors.ts';

const here = (name: string) => fileURLToPath(new URL(`./assets/${name}`, import.meta.url));
const fromPackage = (specifier: string) => createRequire(import.meta.url).resolve(specifier);

/** URL name → where the file lives and what it is. */
const FILES: Record<string, { path: () => string; type: string }> = {
  'fhirbridge.css': { path: () => here('fhirbridge.css'), type: 'text/css; charset=utf-8' },
  'connect.js': { path: () => here('connect.js'), type: 'text/javascript; charset=utf-8' },
  'record.js': { path: () => here('record.js'), type: 'text/javascript; charset=utf-8' },
  'done.js': { path: () => here('done.js'), type: 'text/javascript; charset=utf-8' },
  'sync.js': { path: () => here('sync.js'), type: 'text/javascript; charset=utf-8' },
  'sync-runs.js': { path: () => here('sync-runs.js'), type: 'text/javascript; charset=utf-8' },
  'budget.js': { path: () => here('budget.js'), type: 'text/javascript; charset=utf-8' },
  'fhirbridge-connect.js': {
    path: () => here('fhirbridge-connect.js'),
    type: 'text/javascript; charset=utf-8',
  },
  // The chart library from npm (uPlot), as its package builds it.
  'uplot.js': {
    path: () => fromPackage('uplot/dist/uPlot.iife.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  'uplot.css': {
    path: () => fromPackage('uplot/dist/uPlot.min.css'),
    type: 'text/css; charset=utf-8',
  },
};

export const ASSET_NAMES = Object.keys(FILES);

/** `/assets/{name}`, each with a strong ETag so a browser revalidates cheaply. */
export function registerAssetRoutes(app: FastifyInstance): void {
  const loaded = new Map(
    Object.entries(FILES).map(([name, file]) => {
      const body = readFileSync(file.path());
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
      return [name, { body, etag, type: file.type }];
    }),
  );
  const serve = async (name: string, request: FastifyRequest, reply: FastifyReply) => {
    const asset = loaded.get(name);
    if (!asset) throw new BridgeError('not_found', `no asset "${name}"`);
    reply
      .header('etag', asset.etag)
      .header('cache-control', 'public, max-age=300')
      .header('x-content-type-options', 'nosniff');
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.type(asset.type).send(asset.body);
  };
  app.get('/assets/:name', (request, reply) =>
    serve((request.params as { name: string }).name, request, reply),
  );
  // The embed script at the short address apps put in their pages.
  app.get('/fhirbridge-connect.js', (request, reply) =>
    serve('fhirbridge-connect.js', request, reply),
  );
}
