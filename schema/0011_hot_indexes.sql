-- Indexes for what every `run` reads, on tables that grow with the
-- release's history (tests/cli/query_plans.rs explains each hot query and
-- fails on a full scan of such a table):
--   * the runs a dead process left 'running' (one run row per cron firing);
--   * the attempts not finished, in id order (one per promotion): the old
--     index on (step) could not give that order, so SQLite scanned the table;
--   * the newest aggregate under a builder's link (one per aggregate).
CREATE INDEX runs_running ON runs (outcome) WHERE outcome = 'running';
DROP INDEX attempts_open;
CREATE INDEX attempts_open ON attempts (id) WHERE step NOT IN ('done', 'stopped');
CREATE INDEX aggregates_created ON aggregates (created_at, id);
