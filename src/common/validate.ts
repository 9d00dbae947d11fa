// Input checked against a zod schema at an edge (HTTP, the command line), with one message shape
// for every face: `invalid <what>: <field>: <problem>; ...`.
import type { z } from 'zod';
import { BridgeError } from './errors.ts';

/** The parsed value, or `invalid_request` naming every problem at once. */
export function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || what}: ${i.message}`);
    throw new BridgeError('invalid_request', `invalid ${what}: ${problems.join('; ')}`);
  }
  return result.data;
}
