// The PostgreSQL connection pool of one store: every client reads BIGINT as a number (epoch ms
// fit a double exactly), sees only the store's schema, and runs transactions through `tx`.
import pg from 'pg';
import { BridgeError } from '../../common/errors.ts';

/** What a query runs on: the pool (one statement, autocommit) or a transaction's client. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>>;
}

export interface PostgresDb extends Queryable {
  readonly pool: pg.Pool;
  readonly schema: string;
  /** Runs `work` in one READ COMMITTED transaction on one client; rolls back when it throws. */
  tx<T>(work: (client: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs `work` on one client of its own, outside any transaction (session advisory locks). When
   * `work` throws, the client is closed instead of going back to the pool.
   */
  session<T>(work: (client: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface PoolOptions {
  /** `postgres://user@host:port/database` */
  url: string;
  /** The schema every table lives in (created when missing). */
  schema: string;
  /** Clients in the pool. */
  maxClients?: number;
  /** How long opening a connection may take before the call fails (ms). */
  connectTimeoutMs?: number;
}

const INT8_OID = 20;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Parses BIGINT to a number for this pool only: pg's global type registry stays untouched. */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

export function assertSchemaName(schema: string): void {
  // The name goes into SQL text (search_path, CREATE SCHEMA): only plain identifiers.
  if (!SCHEMA_NAME.test(schema)) {
    throw new BridgeError(
      'invalid_config',
      'the PostgreSQL schema name must be 1-63 of [a-z0-9_], not starting with a digit',
    );
  }
}

export function openPool({
  url,
  schema,
  maxClients = 10,
  connectTimeoutMs = 10_000,
}: PoolOptions): PostgresDb {
  assertSchemaName(schema);
  const pool = new pg.Pool({
    connectionString: url,
    max: maxClients,
    // A server that cannot be reached fails the call (and /readyz) instead of hanging it.
    connectionTimeoutMillis: connectTimeoutMs,
    types,
    // Unqualified table names resolve in the store's schema, and only there.
    options: `-c search_path=${schema}`,
  });
  // An idle client that loses its server emits here; without a listener the process would crash.
  pool.on('error', () => {});

  return {
    pool,
    schema,
    query: (sql, params) => pool.query(sql, params),
    async tx(work) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    async session(work) {
      const client = await pool.connect();
      let failed = false;
      try {
        return await work(client);
      } catch (error) {
        failed = true;
        throw error;
      } finally {
        // A session that failed may still hold an advisory lock it could not release: it is
        // closed, not pooled, and the server releases what it held.
        client.release(failed);
      }
    },
    close: () => pool.end(),
  };
}

/** A 64-bit advisory-lock key for `name`, computed by the server so every process agrees. */
export const LOCK_KEY = "hashtextextended('fhirbridge:' || current_schema() || ':' || $1, 0)";

/**
 * Runs `write`; constraint failures become BridgeErrors about `what` (e.g. "connection"): a
 * duplicate is a `conflict`, a reference to a missing row `not_found`. Messages name the record
 * kind and the constraint, never the values.
 */
export async function guardWrite<T>(what: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (error instanceof pg.DatabaseError) {
      if (error.code === '23505') {
        throw new BridgeError('conflict', `${what} already exists`, {
          details: { constraint: error.constraint },
        });
      }
      if (error.code === '23503') {
        throw new BridgeError('not_found', `${what} refers to a record that does not exist`);
      }
    }
    throw error;
  }
}

/** Collects positional parameters: `p(value)` returns its `$n`. */
export function parameters(): { args: unknown[]; p: (value: unknown) => string } {
  const args: unknown[] = [];
  return {
    args,
    p(value) {
      args.push(value);
      return `$${args.length}`;
    },
  };
}
