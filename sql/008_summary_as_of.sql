-- GET /payments-summary speaks for the instant it was asked: it counts only the payments whose
-- processor's answer had reached us by then (processed_at, now that time and no longer the
-- record's commit), as the processors' own summaries, asked at the same instant, count only what
-- they stored by then. Waiting for payments still on their way (so that their records are there)
-- then cannot make it count one that a processor stored after answering the checker (seen once in
-- a final-preset run of 2026-12-04: 1 inconsistency). processed_at joins the index so the summary
-- stays an index-only scan.
DROP INDEX IF EXISTS processed_payments_summary_idx;
CREATE INDEX processed_payments_summary_idx ON processed_payments (requested_at) INCLUDE (processor, amount_cents, processed_at);
COMMENT ON COLUMN processed_payments.processed_at IS 'when the processor''s answer reached the engine (wall clock)';
