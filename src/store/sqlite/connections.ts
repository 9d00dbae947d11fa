// The `connections` table: each patient's link to a practice, its sealed tokens and state, and
// the row <-> ConnectionRecord mapping (the patch mapping too).
import type { Database } from 'better-sqlite3';
import type {
  ConnectionPatch,
  ConnectionRecord,
  ConnectionRepository,
  ConnectionState,
} from '../port.ts';
import { guardWrite } from './constraints.ts';

interface ConnectionRow {
  id: string;
  registration: string;
  practice_base: string;
  user_ref: string;
  state: ConnectionState;
  state_reason: string | null;
  patient_id: string | null;
  fhir_user: string | null;
  granted_scopes: string;
  sealed_tokens: string | null;
  access_expires_at: number | null;
  access_issued_at: number | null;
  refresh_expires_at: number | null;
  refresh_attempt_at: number | null;
  sealed_refresh_answer: string | null;
  token_version: number;
  refresh_lease_until: number | null;
  created_at: number;
  updated_at: number;
  connected_at: number | null;
}

function toRow(record: ConnectionRecord): ConnectionRow {
  return {
    id: record.id,
    registration: record.registration,
    practice_base: record.practiceBase,
    user_ref: record.userRef,
    state: record.state,
    state_reason: record.stateReason,
    patient_id: record.patientId,
    fhir_user: record.fhirUser,
    granted_scopes: JSON.stringify(record.grantedScopes),
    sealed_tokens: record.sealedTokens,
    access_expires_at: record.accessExpiresAt,
    access_issued_at: record.accessIssuedAt ?? null,
    refresh_expires_at: record.refreshExpiresAt,
    refresh_attempt_at: record.refreshAttemptAt ?? null,
    sealed_refresh_answer: record.sealedRefreshAnswer ?? null,
    token_version: record.tokenVersion,
    refresh_lease_until: record.refreshLeaseUntil,
    created_at: record.createdAt,
    updated_at: record.updatedAt,
    connected_at: record.connectedAt,
  };
}

function fromRow(row: ConnectionRow): ConnectionRecord {
  return {
    id: row.id,
    registration: row.registration,
    practiceBase: row.practice_base,
    userRef: row.user_ref,
    state: row.state,
    stateReason: row.state_reason,
    patientId: row.patient_id,
    fhirUser: row.fhir_user,
    grantedScopes: JSON.parse(row.granted_scopes) as string[],
    sealedTokens: row.sealed_tokens,
    accessExpiresAt: row.access_expires_at,
    accessIssuedAt: row.access_issued_at,
    refreshExpiresAt: row.refresh_expires_at,
    refreshAttemptAt: row.refresh_attempt_at,
    sealedRefreshAnswer: row.sealed_refresh_answer,
    tokenVersion: row.token_version,
    refreshLeaseUntil: row.refresh_lease_until,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    connectedAt: row.connected_at,
  };
}

type PatchRow = Omit<
  ConnectionRow,
  'id' | 'registration' | 'practice_base' | 'user_ref' | 'created_at'
>;

/** Every patchable field and its column; `Required` makes the compiler flag a missing one. */
const PATCH_COLUMNS: { [F in keyof Required<ConnectionPatch>]: keyof PatchRow } = {
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
  updatedAt: 'updated_at',
  connectedAt: 'connected_at',
};

const PATCH_ENTRIES = Object.entries(PATCH_COLUMNS) as [keyof ConnectionPatch, keyof PatchRow][];

/**
 * Parameters of the one UPDATE statement: for each column, `set_<column>` (1 when the patch
 * carries the field) and its value. A field set to `undefined` is left alone; `null` clears it.
 */
function patchParams(patch: ConnectionPatch): Record<string, string | number | null> {
  const params: Record<string, string | number | null> = {};
  for (const [field, column] of PATCH_ENTRIES) {
    const value = patch[field];
    params[`set_${column}`] = value === undefined ? 0 : 1;
    params[column] =
      value === undefined || value === null
        ? null
        : Array.isArray(value)
          ? JSON.stringify(value) // grantedScopes, the one JSON column
          : value;
  }
  return params;
}

export function createConnectionRepository(db: Database): ConnectionRepository {
  const insert = db.prepare<[ConnectionRow]>(
    `INSERT INTO connections (id, registration, practice_base, user_ref, state, state_reason,
       patient_id, fhir_user, granted_scopes, sealed_tokens, access_expires_at,
       access_issued_at, refresh_expires_at, refresh_attempt_at, sealed_refresh_answer,
       token_version, refresh_lease_until, created_at, updated_at, connected_at)
     VALUES (@id, @registration, @practice_base, @user_ref, @state, @state_reason,
       @patient_id, @fhir_user, @granted_scopes, @sealed_tokens, @access_expires_at,
       @access_issued_at, @refresh_expires_at, @refresh_attempt_at, @sealed_refresh_answer,
       @token_version, @refresh_lease_until, @created_at, @updated_at, @connected_at)`,
  );
  const get = db.prepare<[string], ConnectionRow>('SELECT * FROM connections WHERE id = ?');
  const findByUser = db.prepare<[string, string, string], ConnectionRow>(
    `SELECT * FROM connections
     WHERE registration = ? AND practice_base = ? AND user_ref = ?`,
  );
  // One statement for every patch shape; `expected_version` NULL means no compare-and-set.
  const update = db.prepare<[Record<string, string | number | null>]>(
    `UPDATE connections SET
       ${PATCH_ENTRIES.map(
         ([, c]) => `${c} = CASE WHEN @set_${c} = 1 THEN @${c} ELSE ${c} END`,
       ).join(',\n       ')}
     WHERE id = @id AND (@expected_version IS NULL OR token_version = @expected_version)`,
  );
  const listExpiring = db.prepare<[number, number], ConnectionRow>(
    `SELECT * FROM connections
     WHERE state = 'active' AND access_expires_at < ?
     ORDER BY access_expires_at, id
     LIMIT ?`,
  );
  // substr, not LIKE: an app's name may hold `_`, a LIKE wildcard.
  const list = db.prepare<
    [{ prefix: string | null; limit: number; offset: number }],
    ConnectionRow
  >(
    `SELECT * FROM connections
     WHERE @prefix IS NULL OR substr(user_ref, 1, length(@prefix)) = @prefix
     ORDER BY created_at DESC, id DESC LIMIT @limit OFFSET @offset`,
  );
  const remove = db.prepare<[string]>('DELETE FROM connections WHERE id = ?');

  return {
    async insert(record) {
      guardWrite('connection', () => insert.run(toRow(record)));
    },
    async get(id) {
      const row = get.get(id);
      return row && fromRow(row);
    },
    async findByUser(registration, practiceBase, userRef) {
      const row = findByUser.get(registration, practiceBase, userRef);
      return row && fromRow(row);
    },
    async update(id, patch, expectedTokenVersion) {
      const { changes } = update.run({
        ...patchParams(patch),
        id,
        expected_version: expectedTokenVersion ?? null,
      });
      return changes > 0;
    },
    async listExpiring(before, limit) {
      return listExpiring.all(before, limit).map(fromRow);
    },
    async list({ limit, offset = 0, userRefPrefix }) {
      return list.all({ prefix: userRefPrefix ?? null, limit, offset }).map(fromRow);
    },
    async delete(id) {
      remove.run(id);
    },
  };
}
