// The admin API for tests and demos, under `/admin`, mounted only when `adminEnabled` (off by
// default; the server binds 127.0.0.1). Revocation, practices, the id_token key, the clock,
// quirks, the rate limit, faults, counters and registrations: ground truth and levers.

import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { GrantStore } from './auth/grants.ts';
import type { SigningKeys } from './auth/keys.ts';
import { publicView, type RegistrationStore } from './auth/registrations.ts';
import type { SimulatorContext } from './context.ts';
import type { FaultInjector } from './faults.ts';
import {
  quirksSchema,
  rateLimitSchema,
  type SimulatorOptions,
  simulatorOptionsSchema,
} from './options.ts';

/**
 * A PATCH body schema: every field optional and WITHOUT its default, so that a field left out
 * keeps its current value instead of being reset (zod fills defaults even under .partial()).
 */
function patchSchema<Shape extends z.ZodRawShape>(schema: z.ZodObject<Shape>) {
  const fields = Object.entries(schema.shape).map(([key, field]) => [
    key,
    (field instanceof z.ZodDefault
      ? (field.unwrap() as z.ZodType)
      : (field as z.ZodType)
    ).optional(),
  ]);
  return z.object(Object.fromEntries(fields) as Record<string, z.ZodOptional<z.ZodType>>).strict();
}

/** The switches, and the server profile beside them (it is an option, not a quirk). */
const quirksPatch = patchSchema(quirksSchema).extend({
  profile: simulatorOptionsSchema.shape.profile.unwrap().optional(),
});
const rateLimitPatch = patchSchema(rateLimitSchema);

export const ADMIN_PREFIX = '/admin';

export interface AdminDeps {
  ctx: SimulatorContext;
  registrations: RegistrationStore;
  grants: GrantStore;
  keys: SigningKeys;
  faults: FaultInjector;
}

const revokeSchema = z
  .object({
    clientId: z.string().min(1),
    patientId: z.string().min(1).optional(),
    username: z.string().min(1).optional(),
    practiceCode: z.string().min(1).optional(),
  })
  .refine((b) => b.patientId !== undefined || b.username !== undefined, {
    message: 'name the patient: patientId or username',
  });

const shiftSchema = z.object({ ms: z.number().int() });
const profileSchema = z.object({ profile: simulatorOptionsSchema.shape.profile.unwrap() });

function badRequest(reply: FastifyReply, error: unknown): FastifyReply {
  const message =
    error instanceof z.ZodError
      ? z.prettifyError(error)
      : error instanceof Error
        ? error.message
        : 'invalid request';
  return reply.code(400).send({ error: 'invalid_request', message });
}

function notFound(reply: FastifyReply, message: string): FastifyReply {
  return reply.code(404).send({ error: 'not_found', message });
}

/** Registers the admin routes on an instance already scoped to ADMIN_PREFIX. */
export function registerAdminRoutes(admin: FastifyInstance, deps: AdminDeps): void {
  const { ctx, registrations, grants, keys, faults } = deps;

  admin.get('/registrations', () => registrations.list().map(publicView));
  admin.post('/registrations', (request, reply) => {
    try {
      return reply.code(201).send(publicView(registrations.put(request.body as never)));
    } catch (error) {
      return badRequest(reply, error);
    }
  });
  admin.delete<{ Params: { clientId: string } }>('/registrations/:clientId', (request, reply) =>
    registrations.delete(request.params.clientId)
      ? reply.code(204).send()
      : notFound(reply, 'no such registration'),
  );

  // The patient revokes the app in the healow portal.
  admin.post('/revoke', (request, reply) => {
    const parsed = revokeSchema.safeParse(request.body);
    if (!parsed.success) return badRequest(reply, parsed.error);
    const { clientId, patientId, username, practiceCode } = parsed.data;
    const revoked = grants.revoke({
      clientId,
      ...(patientId === undefined ? {} : { patientId }),
      ...(username === undefined ? {} : { username }),
      ...(practiceCode === undefined ? {} : { practiceCode }),
    });
    return { revoked };
  });
  admin.get('/grants', () =>
    grants.grants().map((g) => ({
      clientId: g.clientId,
      practiceCode: g.practiceCode,
      patientId: g.patientId,
      username: g.username,
      scopes: g.scopes,
      createdAt: new Date(g.createdAt).toISOString(),
      refreshExpiresAt: new Date(g.refreshExpiresAt).toISOString(),
      revoked: g.revoked,
    })),
  );

  admin.get('/practices', () => [...ctx.practices.values()]);
  const setDisabled =
    (disabled: boolean) => (request: { params: unknown }, reply: FastifyReply) => {
      const code = (request.params as { code: string }).code;
      const practice = ctx.practices.get(code);
      if (!practice) return notFound(reply, 'no such practice');
      practice.disabled = disabled;
      return reply.send(practice);
    };
  admin.post('/practices/:code/disable', setDisabled(true));
  admin.post('/practices/:code/enable', setDisabled(false));

  admin.post('/keys/rotate', async () => ({ kid: await keys.rotate() }));

  admin.get('/clock', () => ({
    now: ctx.clock.now(),
    iso: new Date(ctx.clock.now()).toISOString(),
  }));
  admin.post('/clock/shift', (request, reply) => {
    const parsed = shiftSchema.safeParse(request.body);
    if (!parsed.success) return badRequest(reply, parsed.error);
    ctx.clock.shift(parsed.data.ms);
    return { now: ctx.clock.now(), iso: new Date(ctx.clock.now()).toISOString() };
  });

  const switches = () => ({ ...ctx.quirks, profile: ctx.options.profile });
  admin.get('/quirks', switches);
  admin.patch('/quirks', (request, reply) => {
    const parsed = quirksPatch.safeParse(request.body);
    if (!parsed.success) return badRequest(reply, parsed.error);
    const { profile, ...quirks } = parsed.data;
    Object.assign(ctx.quirks, quirks);
    // The schema has checked it; the generic patch schema only loses its type.
    if (profile !== undefined) ctx.options.profile = profile as SimulatorOptions['profile'];
    return switches();
  });

  // The server profile: healow as observed, or a permissive generic SMART on FHIR server.
  admin.get('/profile', () => ({ profile: ctx.options.profile }));
  admin.patch('/profile', (request, reply) => {
    const parsed = profileSchema.safeParse(request.body);
    if (!parsed.success) return badRequest(reply, parsed.error);
    ctx.options.profile = parsed.data.profile;
    return { profile: ctx.options.profile };
  });

  admin.get('/rate-limit', () => ctx.rateLimit);
  admin.patch('/rate-limit', (request, reply) => {
    const parsed = rateLimitPatch.safeParse(request.body);
    if (!parsed.success) return badRequest(reply, parsed.error);
    Object.assign(ctx.rateLimit, parsed.data);
    return ctx.rateLimit;
  });

  admin.get('/faults', () => faults.list());
  admin.post('/faults', (request, reply) => {
    try {
      return reply.code(201).send(faults.add(request.body as never));
    } catch (error) {
      return badRequest(reply, error);
    }
  });
  admin.delete('/faults', (_request, reply) => {
    faults.clear();
    return reply.code(204).send();
  });
  admin.delete<{ Params: { id: string } }>('/faults/:id', (request, reply) =>
    faults.remove(request.params.id) ? reply.code(204).send() : notFound(reply, 'no such fault'),
  );

  admin.get('/counters', () => ({
    now: ctx.clock.now(),
    window: Math.floor(ctx.clock.now() / ctx.rateLimit.windowMs),
    rateLimit: ctx.rateLimit,
    practices: ctx.counters.snapshot(),
  }));
  admin.get<{ Params: { code: string } }>('/counters/:code', (request) =>
    ctx.counters.get(request.params.code),
  );
  admin.post('/counters/reset', (_request, reply) => {
    ctx.counters.reset();
    return reply.code(204).send();
  });
}
