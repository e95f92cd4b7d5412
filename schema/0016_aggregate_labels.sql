-- promoter schema 16: whether a label was ever promoted as an aggregate,
-- asked by every `run` and `why` of each promotion, is one probe of this
-- index instead of a walk through every promotion of the label.
CREATE INDEX promotions_aggregate_name ON promotions (name) WHERE aggregate_hash IS NOT NULL;
