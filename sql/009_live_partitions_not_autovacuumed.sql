-- A day's partitions of payments and processed_payments are not autovacuumed while their day is
-- live; once it has passed, payeng_partitions (the janitor, hourly) hands them back to autovacuum.
-- Why: under load every autovacuum round vacuumed and analyzed the day's two partitions (bench/
-- README.md, "Every fifth second"). Each of those rewrites the partition's pg_class row or its
-- statistics, which invalidates the cached plan of every statement on the table in every backend,
-- so each connection planned its accept again (0.8-1.0 ms each, against 0.1 ms to run it), and
-- the analyzes cost ~20 ms of CPU each, enough with the re-planning to push PostgreSQL past its
-- CPU quota (throttled 18-57 ms at a round). A live partition needs neither: its rows are inserted,
-- updated in place (HOT: no indexed column changes) and almost never deleted, so there is little
-- to reclaim; its statistics never change a plan (the engine's statements are generic index
-- lookups); and the summary's index-only scan, without the visibility map, fetches heap pages it
-- has in memory anyway (measured: 27 against 24 ms for 170,000 rows). Anti-wraparound vacuums
-- still run: autovacuum_enabled = false does not stop them. The queue is still vacuumed every
-- round: it sees a row in and a row out per payment.

CREATE OR REPLACE FUNCTION payeng_partition_day(d date) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF payments FOR VALUES FROM (%L) TO (%L)'
                 ' WITH (autovacuum_enabled = false)',
                 'payments_' || to_char(d, 'YYYYMMDD'), d, d + 1);
  EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF processed_payments FOR VALUES FROM (%L) TO (%L)'
                 ' WITH (autovacuum_enabled = false)',
                 'processed_payments_' || to_char(d, 'YYYYMMDD'),
                 d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
END $$;

-- The day partitions of this schema: name, day, and whether autovacuum is off for it.
CREATE OR REPLACE FUNCTION payeng_day_partitions() RETURNS TABLE (relname name, day date, autovacuum_off boolean)
LANGUAGE sql STABLE AS $$
  SELECT c.relname, to_date(right(c.relname, 8), 'YYYYMMDD'),
         coalesce(c.reloptions @> ARRAY['autovacuum_enabled=false'], false)
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
  WHERE p.relname IN ('payments', 'processed_payments') AND p.relnamespace = c.relnamespace
    AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
    AND right(c.relname, 8) ~ '^[0-9]{8}$'
$$;

CREATE OR REPLACE FUNCTION payeng_partitions(ahead_days int, keep_days int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  today date := (clock_timestamp() AT TIME ZONE 'UTC')::date;
  d date;
  part record;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('payeng_partitions'));
  FOR d IN SELECT generate_series(today - keep_days, today + ahead_days, interval '1 day')::date LOOP
    PERFORM payeng_partition_day(d);
  END LOOP;
  FOR part IN SELECT * FROM payeng_day_partitions() WHERE day < today LOOP
    IF part.day < today - keep_days THEN
      EXECUTE format('DROP TABLE %I', part.relname);
    ELSIF part.autovacuum_off THEN
      -- Its day has passed (the last records of its payments land within seconds of midnight).
      EXECUTE format('ALTER TABLE %I RESET (autovacuum_enabled)', part.relname);
    END IF;
  END LOOP;
END $$;

DO $$
DECLARE
  part record;
BEGIN
  FOR part IN SELECT * FROM payeng_day_partitions()
              WHERE day >= (clock_timestamp() AT TIME ZONE 'UTC')::date AND NOT autovacuum_off LOOP
    EXECUTE format('ALTER TABLE %I SET (autovacuum_enabled = false)', part.relname);
  END LOOP;
END $$;
