-- The processors' health endpoint allows one call per 5 s for ALL callers together, so the engine
-- instances share one result: whoever claims the window (conditional UPDATE on checked_at) calls
-- the endpoint and writes what it saw; everyone reads it.
CREATE TABLE processor_health (
  processor smallint PRIMARY KEY CHECK (processor IN (0, 1)),
  failing boolean NOT NULL DEFAULT false,
  min_response_ms int NOT NULL DEFAULT 0,
  checked_at timestamptz NOT NULL DEFAULT '-infinity',  -- when the window was claimed
  checked_by int,
  reported_at timestamptz                               -- when a result was written; null: never
);
INSERT INTO processor_health (processor) VALUES (0), (1);

-- The summary waits for attempts still in flight inside its window (see engine/summary.cpp).
CREATE INDEX payment_attempts_requested_at_idx ON payment_attempts (requested_at);
