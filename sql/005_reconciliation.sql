-- Reconciliation with the processors' own books: one row per processor holds the last closed
-- window compared (ours and theirs), so every instance can expose the difference in /metrics.
-- Whoever claims the row's interval (conditional UPDATE on claimed_at) runs the comparison.
CREATE TABLE reconciliation (
  processor smallint PRIMARY KEY CHECK (processor IN (0, 1)),
  claimed_at timestamptz NOT NULL DEFAULT '-infinity',
  claimed_by int,
  window_from timestamptz,
  window_to timestamptz,
  our_requests bigint,
  our_cents bigint,
  their_requests bigint,
  their_cents bigint,
  checked_at timestamptz
);
INSERT INTO reconciliation (processor) VALUES (0), (1);
