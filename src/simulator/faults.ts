// Injected faults per route, set through the admin API: latency, a deterministic 5xx rate
// (seeded PRNG), timeouts (the request is never answered until the client gives up),
// malformed JSON bodies and dropped connections. The first matching fault applies.

import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { SimQuirks } from './context.ts';
import { practiceCodeOf, routeKind, sendError } from './responses.ts';

export const FAULT_ROUTES = [
  'authorize',
  'token',
  'jwks',
  'discovery',
  'fhir',
  'directory',
  'any',
] as const;
export type FaultRoute = (typeof FAULT_ROUTES)[number];

export const faultSchema = z.object({
  /** authorize covers the login and consent pages; discovery is smart-configuration and metadata. */
  route: z.enum(FAULT_ROUTES),
  /** Only this practice (FHIR and discovery routes). */
  practice: z.string().optional(),
  /** Only paths starting with this, e.g. `/fhir/r4/JAFJCD/DocumentReference`. */
  pathPrefix: z.string().startsWith('/').optional(),
  latencyMs: z.number().int().min(0).max(600_000).default(0),
  /** Share of matching calls answered with `errorStatus`, drawn from a PRNG seeded by the options seed. */
  errorRate: z.number().min(0).max(1).default(0),
  errorStatus: z.number().int().min(500).max(599).default(503),
  timeout: z.boolean().default(false),
  malformedJson: z.boolean().default(false),
  dropConnection: z.boolean().default(false),
  /**
   * Apply the latency, the dropped connection or the timeout once the route has done its work:
   * a refresh token is rotated and then its answer is held or lost (malformed JSON always is).
   */
  afterHandler: z.boolean().default(false),
  /** Apply to the next N matching calls, then remove the fault; forever when absent. */
  times: z.number().int().positive().optional(),
});
export type FaultSpec = z.infer<typeof faultSchema>;
export type Fault = FaultSpec & { id: string; hits: number };

/** Which fault route a path belongs to; undefined for admin and other unfaultable paths. */
export function faultRouteOf(url: string): Exclude<FaultRoute, 'any'> | undefined {
  const path = url.split('?')[0] ?? '';
  if (path === '/oauth/oauth2/token') return 'token';
  if (path === '/oauth/oauth2/jwks') return 'jwks';
  if (path.startsWith('/oauth/oauth2/')) return 'authorize';
  if (/^\/fhir\/r4\/[^/]+\/(metadata|\.well-known\/smart-configuration)$/.test(path)) {
    return 'discovery';
  }
  if (path.startsWith('/fhir/')) return 'fhir';
  if (path.startsWith('/apps/api/')) return 'directory';
  return undefined;
}

/** mulberry32: a small deterministic PRNG; same seed, same sequence of faults. */
function seededRandom(seed: string): () => number {
  let state = createHash('sha256').update(seed).digest().readUInt32LE(0);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FaultInjector {
  add(spec: z.input<typeof faultSchema>): Fault;
  list(): Fault[];
  remove(id: string): boolean;
  clear(): void;
  /** Installs the hooks that apply faults. */
  install(app: FastifyInstance): void;
  /** Ends requests held open by a timeout fault (called by close()). */
  releaseAll(): void;
}

declare module 'fastify' {
  interface FastifyRequest {
    simMalformedJson?: boolean;
    simLateFault?: FaultSpec;
  }
}

export function createFaultInjector(deps: { seed: string; quirks: SimQuirks }): FaultInjector {
  let faults: Array<Fault & { random: () => number }> = [];
  let nextId = 1;
  const held = new Set<Socket>();

  const match = (url: string) => {
    const route = faultRouteOf(url);
    if (route === undefined) return undefined;
    const path = url.split('?')[0] ?? '';
    return faults.find(
      (f) =>
        (f.route === 'any' || f.route === route) &&
        (f.practice === undefined || practiceCodeOf(url) === f.practice) &&
        (f.pathPrefix === undefined || path.startsWith(f.pathPrefix)),
    );
  };

  const injector: FaultInjector = {
    add(spec) {
      const parsed = faultSchema.parse(spec);
      const id = `fault-${nextId++}`;
      const fault = { ...parsed, id, hits: 0, random: seededRandom(`${deps.seed}:${id}`) };
      faults.push(fault);
      return injector.list().find((f) => f.id === id)!;
    },
    list: () => faults.map(({ random: _random, ...f }) => ({ ...f })),
    remove(id) {
      const before = faults.length;
      faults = faults.filter((f) => f.id !== id);
      return faults.length < before;
    },
    clear() {
      faults = [];
    },
    releaseAll() {
      for (const socket of held) socket.destroy();
      held.clear();
    },
    install(app) {
      app.addHook('onRequest', async (request, reply) => {
        const fault = match(request.url);
        if (!fault) return;
        fault.hits += 1;
        if (fault.times !== undefined && fault.hits >= fault.times) {
          faults = faults.filter((f) => f !== fault);
        }
        if (fault.afterHandler) {
          request.simLateFault = fault;
          if (fault.malformedJson) request.simMalformedJson = true;
          return;
        }
        if (fault.latencyMs > 0) await new Promise((r) => setTimeout(r, fault.latencyMs));
        if (fault.dropConnection) {
          reply.hijack();
          request.raw.socket.destroy();
          return;
        }
        if (fault.timeout) {
          // Never answer: the client's own timeout is the only way out (close() ends it too).
          reply.hijack();
          const socket = request.raw.socket;
          held.add(socket);
          socket.once('close', () => held.delete(socket));
          return;
        }
        if (fault.errorRate > 0 && fault.random() < fault.errorRate) {
          return sendError(
            reply,
            routeKind(request.url),
            fault.errorStatus,
            'injected fault: the server is unavailable',
            deps.quirks,
          );
        }
        if (fault.malformedJson) request.simMalformedJson = true;
      });
      app.addHook('onSend', async (request, _reply, payload) => {
        const late = request.simLateFault;
        if (late) {
          if (late.latencyMs > 0) await new Promise((r) => setTimeout(r, late.latencyMs));
          const socket = request.raw.socket;
          if (late.dropConnection) socket.destroy();
          if (late.timeout && !socket.destroyed) {
            // The work is done, the answer never leaves: until the client gives up (or close()).
            held.add(socket);
            await new Promise<void>((resolve) => socket.once('close', () => resolve()));
            held.delete(socket);
          }
        }
        if (!request.simMalformedJson) return payload;
        // A body cut in half: a valid start, never valid JSON.
        const text =
          typeof payload === 'string'
            ? payload
            : Buffer.isBuffer(payload)
              ? payload.toString('utf8')
              : '{"resourceType":"Bundle"';
        return text.slice(0, Math.max(1, Math.floor(text.length / 2)));
      });
    },
  };
  return injector;
}
