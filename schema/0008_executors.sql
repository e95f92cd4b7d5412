-- promoter schema 8: where a job runs. A local job runs under a supervisor
-- of this host; a job of a Slurm executor is a Slurm job, found by its id
-- at each run.

-- The executor that runs it (`local`, or the name of an executor of the
-- config), and that executor's id of it (a Slurm job id).
ALTER TABLE job_runs ADD COLUMN executor TEXT NOT NULL DEFAULT 'local';
ALTER TABLE job_runs ADD COLUMN executor_id TEXT;
-- The lease it holds, given back when it ends.
ALTER TABLE job_runs ADD COLUMN lease_id INTEGER REFERENCES leases (id);

DROP VIEW job_runs_view;
CREATE VIEW job_runs_view AS
SELECT j.id, j.promotion, j.job_id, b.full_hash, j.outcome, j.notes,
       datetime(j.started_at, 'unixepoch') AS started,
       j.ended_at - j.started_at AS seconds, j.testenv, j.archive, j.run_id,
       j.executor, j.executor_id
FROM job_runs j JOIN builds b ON b.id = j.build_id;
