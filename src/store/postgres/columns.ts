// Field <-> column maps: a record type's fields and their snake_case columns, from which the
// SELECT list (columns aliased to the fields, so rows come back as records) and the INSERT are
// built. `Required` in the map type makes the compiler flag a field without a column.

export type ColumnMap<T> = { [F in keyof Required<T>]: string };

/** `col AS "field", ...`: rows come back keyed by the record's field names. */
export function selectList<T>(map: ColumnMap<T>): string {
  return Object.entries(map)
    .map(([field, column]) => `${column} AS "${field}"`)
    .join(', ');
}

/** `INSERT INTO table (cols) VALUES ($1...)` and the values of `record` in the same order. */
export function insertOf<T extends object>(
  table: string,
  map: ColumnMap<T>,
  record: T,
  encode: Partial<{ [F in keyof T]: (value: T[F]) => unknown }> = {},
): { sql: string; args: unknown[] } {
  const entries = Object.entries(map) as [keyof T & string, string][];
  const args = entries.map(([field]) => {
    const value = record[field];
    const encoder = encode[field];
    return encoder ? encoder(value) : (value ?? null);
  });
  return {
    sql: `INSERT INTO ${table} (${entries.map(([, c]) => c).join(', ')})
      VALUES (${entries.map((_, i) => `$${i + 1}`).join(', ')})`,
    args,
  };
}
