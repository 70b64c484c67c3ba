-- The payment engine's tables. Each payment moves through explicit states:
--   queued          a row in payments + a message in the queue (pgq_q_payments)
--   in flight on X  a row in payment_attempts: written BEFORE the first byte goes to processor X,
--                   with the exact requestedAt sent, so a crash or timeout can only be resolved on X
--   done on X       a row in processed_payments (the queue message and the attempt are deleted in
--                   the same transaction)

-- Every accepted payment, forever: the idempotency ledger (a re-post of a known correlationId
-- creates nothing) and the record of what we owe the processors.
CREATE TABLE payments (
  correlation_id uuid PRIMARY KEY,
  amount_cents bigint NOT NULL CHECK (amount_cents > 0),
  received_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE payment_attempts (
  correlation_id uuid PRIMARY KEY REFERENCES payments,
  processor smallint NOT NULL CHECK (processor IN (0, 1)),  -- 0 default, 1 fallback
  requested_at timestamptz NOT NULL,
  first_sent_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE processed_payments (
  correlation_id uuid PRIMARY KEY REFERENCES payments,
  processor smallint NOT NULL CHECK (processor IN (0, 1)),
  amount_cents bigint NOT NULL CHECK (amount_cents > 0),
  requested_at timestamptz NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- GET /payments-summary is a range over requested_at: this makes it an index-only scan.
CREATE INDEX processed_payments_summary_idx
  ON processed_payments (requested_at) INCLUDE (processor, amount_cents);
