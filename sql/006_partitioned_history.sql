-- Bounded, fast history: payments and processed_payments are partitioned by UTC day, created
-- ahead and dropped after a retention period by payeng_partitions() (called at start-up and
-- hourly by the janitor). Dropping a day is instant; a DELETE would leave the same rows as dead
-- tuples for vacuum to chew through.
--
-- processed_payments by requested_at: GET /payments-summary is a range over requested_at, so it
-- prunes to the days it covers and stays an index-only scan there.
-- payments by accepted_on, the UTC day of its requestedAt (set once, when accepted): its key is
-- (correlation_id, accepted_on), so a duplicate POST on the same day is caught by the key itself,
-- race-free. The accept statement also checks the previous day explicitly: the idempotency window
-- is the current UTC day and the one before (24 to 48 hours), as payment APIs commonly keep
-- idempotency keys for a day. A correlationId re-posted later is a new payment.

ALTER TABLE payments RENAME TO payments_v1;
ALTER TABLE processed_payments RENAME TO processed_payments_v1;
ALTER INDEX processed_payments_summary_idx RENAME TO processed_payments_v1_summary_idx;
ALTER INDEX payments_requested_at_idx RENAME TO payments_v1_requested_at_idx;

CREATE TABLE payments (
  correlation_id uuid NOT NULL,
  amount_cents bigint NOT NULL CHECK (amount_cents > 0),
  received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  requested_at timestamptz NOT NULL,
  accepted_on date NOT NULL,
  processor smallint CHECK (processor IN (0, 1)),
  unknown_since timestamptz,
  retried boolean NOT NULL DEFAULT false,
  accept_token bigint,
  PRIMARY KEY (correlation_id, accepted_on)
) PARTITION BY RANGE (accepted_on);
CREATE INDEX payments_requested_at_idx ON payments (requested_at);

CREATE TABLE processed_payments (
  correlation_id uuid NOT NULL,
  processor smallint NOT NULL CHECK (processor IN (0, 1)),
  amount_cents bigint NOT NULL CHECK (amount_cents > 0),
  requested_at timestamptz NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- A payment has one requestedAt for life, so this is its identity here too.
  PRIMARY KEY (correlation_id, requested_at)
) PARTITION BY RANGE (requested_at);
CREATE INDEX processed_payments_summary_idx ON processed_payments (requested_at) INCLUDE (processor, amount_cents);

-- The partitions of one UTC day, in both tables (idempotent).
CREATE FUNCTION payeng_partition_day(d date) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF payments FOR VALUES FROM (%L) TO (%L)',
                 'payments_' || to_char(d, 'YYYYMMDD'), d, d + 1);
  EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF processed_payments FOR VALUES FROM (%L) TO (%L)',
                 'processed_payments_' || to_char(d, 'YYYYMMDD'),
                 d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
END $$;

-- Creates the daily partitions from `keep_days` ago to `ahead_days` ahead (UTC) and drops the
-- ones older than that. Idempotent; instances calling it together serialise on a lock.
CREATE FUNCTION payeng_partitions(ahead_days int, keep_days int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  today date := (clock_timestamp() AT TIME ZONE 'UTC')::date;
  d date;
  part record;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('payeng_partitions'));
  FOR d IN SELECT generate_series(today - keep_days, today + ahead_days, interval '1 day')::date LOOP
    PERFORM payeng_partition_day(d);
  END LOOP;
  FOR part IN
    SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
    WHERE p.relname IN ('payments', 'processed_payments') AND p.relnamespace = c.relnamespace
      AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
      AND right(c.relname, 8) ~ '^[0-9]{8}$' AND to_date(right(c.relname, 8), 'YYYYMMDD') < today - keep_days
  LOOP
    EXECUTE format('DROP TABLE %I', part.relname);
  END LOOP;
END $$;

-- The days the previous tables hold, then the usual window (7 days back, 2 ahead).
SELECT payeng_partition_day(d) FROM (SELECT (requested_at AT TIME ZONE 'UTC')::date FROM payments_v1
                                     UNION SELECT (requested_at AT TIME ZONE 'UTC')::date FROM processed_payments_v1) AS v1(d);
SELECT payeng_partitions(2, 7);

INSERT INTO payments (correlation_id, amount_cents, received_at, requested_at, accepted_on, processor, unknown_since,
                      retried, accept_token)
  SELECT correlation_id, amount_cents, received_at, requested_at, (requested_at AT TIME ZONE 'UTC')::date, processor,
         unknown_since, retried, accept_token FROM payments_v1;
INSERT INTO processed_payments SELECT * FROM processed_payments_v1;
DROP TABLE processed_payments_v1, payments_v1;

-- Queue messages carry the requestedAt too ("<uuid> <cents> <requested_at ms>"), so that whoever
-- claims one finds its payment in one partition.
DO $$
BEGIN
  IF to_regclass('pgq_q_payments') IS NOT NULL THEN
    UPDATE pgq_q_payments m SET message = m.message || ' ' || (extract(epoch from p.requested_at) * 1000)::bigint
      FROM payments p WHERE p.correlation_id = left(m.message, 36)::uuid AND split_part(m.message, ' ', 3) = '';
  END IF;
END $$;
