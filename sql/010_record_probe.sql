-- Whether a payment was recorded: asked by the recorder's statement only for the payments whose
-- message it no longer holds (an earlier attempt of the same write committed unanswered, or the
-- payment was taken over). As a join of that statement, the generic plan set up a scan of every
-- processed_payments partition on each call, though the message is almost always still held:
-- ~70 us of the statement's ~400 us of server CPU (pgbench, bench/README.md). A PL/pgSQL
-- function's query is planned and run only when it is called. STABLE: it reads with the calling
-- statement's snapshot, as the join did.
CREATE OR REPLACE FUNCTION payeng_recorded(cid uuid, req timestamptz) RETURNS boolean
LANGUAGE plpgsql STABLE STRICT AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM processed_payments WHERE correlation_id = cid AND requested_at = req);
END
$$;
