// Admin routes over the patient data (mounted under the admin prefix): ground truth of a
// patient's resources, and add / replace / change / delete, each bumping meta.versionId and
// meta.lastUpdated, so that a client's incremental sync (`_lastUpdated`, `_since`) can be tested.
// A patient is named by FHIR id or by test username.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { SimulatorContext } from '../context.ts';
import { DataError, foreignBase, type PatientData } from '../data/index.ts';

const resourceSchema = z.looseObject({
  resourceType: z.string().min(1),
  id: z.string().optional(),
});

const patchSchema = z.record(z.string(), z.unknown());

type PatientParams = { practice: string; patient: string };
type ResourceParams = PatientParams & { type: string; id: string };

const STATUS: Record<DataError['code'], number> = {
  not_found: 404,
  gone: 410,
  conflict: 409,
  invalid: 400,
};

export function registerDataAdminRoutes(
  admin: FastifyInstance,
  ctx: SimulatorContext<PatientData>,
): void {
  // Tests may post resources as FHIR JSON.
  admin.addContentTypeParser(
    ['application/fhir+json', 'application/json+fhir'],
    { parseAs: 'string' },
    (_request, body, done) => {
      try {
        done(null, body === '' ? undefined : JSON.parse(body as string));
      } catch {
        done(Object.assign(new Error('body is not JSON'), { statusCode: 400 }), undefined);
      }
    },
  );

  const fail = (reply: FastifyReply, status: number, error: string, message: string) =>
    reply.code(status).type('application/json;charset=UTF-8').send({ error, message });

  /** The patient's FHIR id from an id or a test username; undefined when unknown. */
  const patientIdOf = (practice: string, patient: string): string | undefined => {
    const known = ctx.data.patients(practice);
    return known.find(
      (p) => p.patientId === patient || p.username.toLowerCase() === patient.toLowerCase(),
    )?.patientId;
  };

  const withPatient =
    (fn: (request: FastifyRequest, reply: FastifyReply, patientId: string) => unknown) =>
    async (request: FastifyRequest, reply: FastifyReply) => {
      const { practice, patient } = request.params as PatientParams;
      const patientId = patientIdOf(practice, patient);
      if (!patientId)
        return fail(reply, 404, 'not_found', `no test patient ${patient} at practice ${practice}`);
      try {
        return await fn(request, reply, patientId);
      } catch (error) {
        if (error instanceof DataError)
          return fail(reply, STATUS[error.code], error.code, error.message);
        if (error instanceof z.ZodError)
          return fail(reply, 400, 'invalid_request', z.prettifyError(error));
        throw error;
      }
    };

  admin.get<{ Params: { practice: string } }>('/data/:practice/patients', (request, reply) => {
    const patients = ctx.data.patients(request.params.practice);
    if (patients.length === 0) return fail(reply, 404, 'not_found', 'unknown practice');
    return patients;
  });

  admin.get(
    '/data/:practice/:patient/counts',
    withPatient((request, _reply, patientId) =>
      ctx.data.store((request.params as PatientParams).practice, patientId)?.counts(),
    ),
  );

  // Ground truth: every live resource of the patient, as the FHIR server holds it. Absolute
  // attachment URLs use healow's host, as with the foreignLinks switch on.
  admin.get(
    '/data/:practice/:patient/resources',
    withPatient((request, reply, patientId) => {
      const { practice } = request.params as PatientParams;
      const { type: queried } = (request.query ?? {}) as { type?: unknown };
      const type = typeof queried === 'string' ? queried : undefined;
      const resources = ctx.data.store(practice, patientId)?.all(foreignBase(practice), type) ?? [];
      const entries = resources.map((r) => JSON.stringify({ resource: r })).join(',');
      return reply
        .type('application/json;charset=UTF-8')
        .send(
          `{"resourceType":"Bundle","type":"collection","total":${resources.length},"entry":[${entries}]}`,
        );
    }),
  );

  admin.post(
    '/data/:practice/:patient/resources',
    withPatient((request, reply, patientId) => {
      const resource = resourceSchema.parse(request.body);
      return reply
        .code(201)
        .send(
          ctx.data.addResource((request.params as PatientParams).practice, patientId, resource),
        );
    }),
  );

  admin.put(
    '/data/:practice/:patient/resources/:type/:id',
    withPatient((request, _reply, patientId) => {
      const { practice, type, id } = request.params as ResourceParams;
      const resource = resourceSchema.parse(request.body);
      if (resource.resourceType !== type || (resource.id !== undefined && resource.id !== id)) {
        throw new DataError('invalid', `the body must be ${type}/${id}`);
      }
      return ctx.data.replaceResource(practice, patientId, { ...resource, id });
    }),
  );

  // A change: top-level fields of the body are merged in (null removes one); an empty body
  // only bumps the version, as a re-save in the EHR would.
  admin.patch(
    '/data/:practice/:patient/resources/:type/:id',
    withPatient((request, _reply, patientId) => {
      const { practice, type, id } = request.params as ResourceParams;
      const patch = patchSchema.parse(request.body ?? {});
      return ctx.data.changeResource(practice, patientId, type, id, patch);
    }),
  );

  admin.delete(
    '/data/:practice/:patient/resources/:type/:id',
    withPatient((request, reply, patientId) => {
      const { practice, type, id } = request.params as ResourceParams;
      ctx.data.deleteResource(practice, patientId, type, id);
      return reply.code(204).send();
    }),
  );
}
