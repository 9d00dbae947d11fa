// Turns SQLite constraint failures into the port's errors: a duplicate is a `conflict`, a
// reference to a missing row is `not_found`. Messages name the record kind, never its values.
import Sqlite from 'better-sqlite3';
import { BridgeError } from '../../common/errors.ts';

const DUPLICATE = new Set(['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY']);

/** Runs `write`; constraint failures become BridgeErrors about `what` (e.g. "connection"). */
export function guardWrite<T>(what: string, write: () => T): T {
  try {
    return write();
  } catch (error) {
    if (error instanceof Sqlite.SqliteError) {
      if (DUPLICATE.has(error.code)) {
        throw new BridgeError('conflict', `${what} already exists`, {
          // The SQLite message names the columns (e.g. "connections.user_ref"), not the values.
          details: { constraint: error.message },
        });
      }
      if (error.code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
        throw new BridgeError('not_found', `${what} refers to a record that does not exist`);
      }
    }
    throw error;
  }
}
