-- Every page write paid for this index (a new entry per row, and a moved one on each sweep stamp)
-- while no query seeks by it: the deletion sweep asks `sweep IS NULL OR sweep <> ?`, which walks
-- the primary key's (connection_id, type) prefix either way.
DROP INDEX resources_by_sweep;
