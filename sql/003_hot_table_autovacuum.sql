-- payment_attempts holds only the payments in flight, but sees a row in and a row out per payment:
-- vacuum it after a fixed number of dead rows rather than a fraction of its (tiny) size, so its
-- index scans do not wade through dead tuples between autovacuum runs. Its statistics never
-- change the plan of a key lookup, so it need not be analyzed on every autovacuum round.
ALTER TABLE payment_attempts SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
                                  autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 1000000);
