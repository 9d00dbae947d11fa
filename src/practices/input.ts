// What an operator may give for a practice added by hand: one check, used by the service, so
// that the CLI and the API refuse the same input with the same message.
import { z } from 'zod';
import { BridgeError } from '../common/errors.ts';

export const PRACTICE_ID = /^[A-Za-z0-9._-]{1,64}$/;
export const PRACTICE_ID_RULE = 'must be 1-64 of [A-Za-z0-9._-]';

const text = (max: number) => z.string().trim().min(1).max(max);

export const newPracticeSchema = z.object({
  // The id names files and URL paths (`/api/practices/{id}`): nothing that could climb out.
  id: z.string().regex(PRACTICE_ID, PRACTICE_ID_RULE),
  name: text(200),
  base: z.string().min(1).max(2048),
  vendor: z.enum(['healow', 'generic'], { error: 'must be healow or generic' }).default('generic'),
  registration: z.string().min(1).max(32).nullable().default(null),
  organizationName: text(200).nullable().default(null),
  addressLine: text(200).nullable().default(null),
  city: text(100).nullable().default(null),
  state: text(50).nullable().default(null),
  postalCode: text(20).nullable().default(null),
});

export type NewPractice = z.output<typeof newPracticeSchema>;

/** The input checked, or BridgeError('invalid_request') naming every problem. */
export function checkNewPractice(input: unknown): NewPractice {
  const result = newPracticeSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map(
      (i) => `${i.path.join('.') || 'practice'}: ${i.message}`,
    );
    throw new BridgeError('invalid_request', `invalid practice: ${problems.join('; ')}`);
  }
  return result.data;
}
