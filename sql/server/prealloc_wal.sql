-- Run once on a freshly initialised server, before any load (docker-compose.yml mounts it into
-- /docker-entrypoint-initdb.d; bench/stack.sh runs it after initdb). Not a migration: it changes
-- no schema, only where the server's next WAL goes.
--
-- Why: a new cluster has one WAL segment. Each time the WAL crosses into a segment that does not
-- exist yet, the backend that gets there creates the 16 MB file and writes zeroes through it
-- (wal_init_zero) while holding WALWriteLock, so every commit waits for it. Under the final test
-- that happened at seconds 95, 159, 204, 241 and 273 (file birth times in pg_wal, vmstat's ~18 MB
-- write bursts), the seconds most often among a run's slowest (p99 up to 17 ms, against a median
-- second's ~2.4; bench/README.md, "New WAL segments"). A server that has run for a while never
-- does this: checkpoints rename old segments to future names (wal_recycle) instead of creating
-- new ones. This makes a new server start in that state: it fills segments now, and the
-- checkpoint recycles them as the next ones.
CREATE TABLE payeng_wal_prealloc (x int);
DO $$
BEGIN
  FOR i IN 1..16 LOOP  -- 256 MB; a 300 s final run writes ~90 MB of WAL
    INSERT INTO payeng_wal_prealloc VALUES (i);
    PERFORM pg_switch_wal();
  END LOOP;
END $$;
DROP TABLE payeng_wal_prealloc;
CHECKPOINT;
