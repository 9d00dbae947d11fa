// The `connections` table: each patient's link to a practice, its sealed tokens and state. The
// token compare-and-set is one UPDATE: under READ COMMITTED a second writer waits for the
// first's row lock, then re-checks token_version on the row the first one left, so of two
// processes racing from one version exactly one writes.
import type { ConnectionPatch, ConnectionRecord, ConnectionRepository } from '../port.ts';
import { type ColumnMap, insertOf, selectList } from './columns.ts';
import { guardWrite, type PostgresDb, parameters } from './database.ts';

const COLUMNS: ColumnMap<ConnectionRecord> = {
  id: 'id',
  registration: 'registration',
  practiceBase: 'practice_base',
  userRef: 'user_ref',
  state: 'state',
  stateReason: 'state_reason',
  patientId: 'patient_id',
  fhirUser: 'fhir_user',
  grantedScopes: 'granted_scopes',
  sealedTokens: 'sealed_tokens',
  accessExpiresAt: 'access_expires_at',
  accessIssuedAt: 'access_issued_at',
  refreshExpiresAt: 'refresh_expires_at',
  refreshAttemptAt: 'refresh_attempt_at',
  sealedRefreshAnswer: 'sealed_refresh_answer',
  tokenVersion: 'token_version',
  refreshLeaseUntil: 'refresh_lease_until',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  connectedAt: 'connected_at',
};

const SELECT = `SELECT ${selectList(COLUMNS)} FROM connections`;

type ConnectionRow = Omit<ConnectionRecord, 'grantedScopes'> & { grantedScopes: string };

const fromRow = (row: ConnectionRow): ConnectionRecord => ({
  ...row,
  grantedScopes: JSON.parse(row.grantedScopes) as string[],
});

export function createConnectionRepository(db: PostgresDb): ConnectionRepository {
  const many = async (sql: string, args: unknown[]) =>
    (await db.query<ConnectionRow>(sql, args)).rows.map(fromRow);
  const one = async (sql: string, args: unknown[]) => (await many(sql, args))[0];

  return {
    async insert(record) {
      const { sql, args } = insertOf('connections', COLUMNS, record, {
        grantedScopes: (v) => JSON.stringify(v),
      });
      await guardWrite('connection', () => db.query(sql, args));
    },
    get: (id) => one(`${SELECT} WHERE id = $1`, [id]),
    findByUser: (registration, practiceBase, userRef) =>
      one(`${SELECT} WHERE registration = $1 AND practice_base = $2 AND user_ref = $3`, [
        registration,
        practiceBase,
        userRef,
      ]),
    async update(id, patch, expectedTokenVersion) {
      const { args, p } = parameters();
      const sets = (Object.entries(patch) as [keyof ConnectionPatch, unknown][])
        .filter(([, value]) => value !== undefined)
        .map(([field, value]) => {
          const encoded = field === 'grantedScopes' ? JSON.stringify(value) : value;
          return `${COLUMNS[field]} = ${p(encoded)}`;
        });
      // An empty patch still answers whether the row (and the version) is there.
      if (sets.length === 0) sets.push('id = id');
      const guard =
        expectedTokenVersion === undefined ? '' : ` AND token_version = ${p(expectedTokenVersion)}`;
      const { rowCount } = await db.query(
        `UPDATE connections SET ${sets.join(', ')} WHERE id = ${p(id)}${guard}`,
        args,
      );
      return (rowCount ?? 0) > 0;
    },
    listExpiring: (before, limit) =>
      many(
        `${SELECT} WHERE state = 'active' AND access_expires_at < $1
         ORDER BY access_expires_at, id LIMIT $2`,
        [before, limit],
      ),
    // starts_with, not LIKE: an app's name may hold `_`, a LIKE wildcard.
    list: ({ limit, offset = 0, userRefPrefix }) =>
      many(
        `${SELECT} WHERE $1::text IS NULL OR starts_with(user_ref, $1)
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3`,
        [userRefPrefix ?? null, limit, offset],
      ),
    async delete(id) {
      await db.query('DELETE FROM connections WHERE id = $1', [id]);
    },
  };
}
