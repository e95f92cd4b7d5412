-- promoter schema 15: a job run's lease held in the shared broker
-- (`testenv_db`), whose ids are the broker's (job_runs.lease_id names a
-- lease of this database).
ALTER TABLE job_runs ADD COLUMN broker_lease_id INTEGER;
