-- A payment's whole durable state in its payments row (plus its queue message while it is being
-- processed), so that every transition is one fenced statement:
--   queued           processor IS NULL (not yet routed), message in pgq_q_payments
--   in flight on X   processor = X: it may have been sent to X, so until X answers (or proves with
--                    a 404 that it holds nothing) it can only be settled on X
--   unknown on X     unknown_since set: a send to X got no answer
--   processed        a row in processed_payments; the message is deleted in the same statement
-- requested_at is set once, when the payment is accepted: every send carries it, so a processor's
-- record (a 422 included) always agrees with ours.
ALTER TABLE payments
  ADD COLUMN requested_at timestamptz,
  ADD COLUMN processor smallint CHECK (processor IN (0, 1)),
  ADD COLUMN unknown_since timestamptz,
  -- set when a duplicate POST was answered 2XX: such a payment is never withdrawn (see ingress)
  ADD COLUMN retried boolean NOT NULL DEFAULT false,
  -- the accepting statement's token: after an in-doubt commit, tells our rows from others'
  ADD COLUMN accept_token bigint;

-- Payments accepted by the previous version keep what it knew of them.
UPDATE payments p SET processor = a.processor, requested_at = a.requested_at
  FROM payment_attempts a WHERE a.correlation_id = p.correlation_id;
UPDATE payments p SET processor = d.processor, requested_at = d.requested_at
  FROM processed_payments d WHERE d.correlation_id = p.correlation_id;
UPDATE payments SET requested_at = received_at WHERE requested_at IS NULL;
ALTER TABLE payments ALTER COLUMN requested_at SET NOT NULL;
DROP TABLE payment_attempts;

-- GET /payments-summary waits for payments of its window that may be landing on a processor right
-- now: a range over the last seconds of requested_at.
CREATE INDEX payments_requested_at_idx ON payments (requested_at);
