-- The accept is the one statement every POST waits for (its commit is fsync'd before the answer),
-- so it writes nothing it does not need (bench/README.md, "Where a single POST's time goes"):
-- payments_requested_at_idx served only the summary's count of payments still on their way to a
-- processor, which now reads the queue instead (the leased messages: engine/store.cpp
-- kInFlightInWindow). One index insert fewer per accepted payment.
DROP INDEX IF EXISTS payments_requested_at_idx;
