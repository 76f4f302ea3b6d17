"""PostgreSQL at scale: 1,000,000 donors and 10,000,000 clips, and the plans of the hot
queries as the services issue them.

1. Creates the database ``rewards_scale`` (``--reuse`` keeps one already filled at the
   same size, and reports the load of the last full run, which filled it), migrates it
   with the Alembic revisions and loads the fixtures. The
   program's campaign then decides clips on their metadata (``requires_upload``
   false, as for imported clips): the submissions measured are the decision path, not
   uploads and their verification (``benchmarks.verification``).
2. Fills it with server-side SQL (``INSERT ... SELECT FROM generate_series``, ``md5()``
   for the hashes), its secondary indexes, unique constraints and foreign keys dropped
   during the load and recreated after it, then ``VACUUM (ANALYZE)``: donors; clips over
   365 days, in time order (ids grow with ``created_at``, as inserts make them), skewed
   (the leader at 201,531, nine more heavy donors, a Pareto tail with a handful each);
   their submission batches; the ledger (an earning transfer per batch, a vesting
   transfer per batch past its review window, a cash credit for each of 100,000 payees,
   cached balances equal to the entries); the Honor Wall tallies of every board (all
   time, campaign, month, week, incident type) and the count medals they earned.
3. Runs the real services with a ``before_cursor_execute`` listener on the engine and
   keeps every SELECT they issue with its parameters: a donor's clips and ledger pages
   (the leader and a typical donor), submissions (timed: the ingest rate at this size,
   WAL bytes and Redis CPU per call), the Honor Wall rebuild of ``all-time`` (Redis
   memory per donor, Redis CPU per standing lookup and per page read), the incremental
   fraud scan of the clips just submitted and the hash index a restart reads again,
   the statements R2, R4 and R7 of docs/capacity.md replaced (as the services issued
   them before, on the same data), and, in *dry* mode (each captured SELECT sent as
   ``SELECT * FROM (...) LIMIT 0``, so the service finds nothing to do and writes
   nothing), the payout gathering, the vesting job, the retention job and the nightly
   full fraud scan. Then ``EXPLAIN (ANALYZE, BUFFERS)`` of each captured SELECT with
   its parameters (a statement repeated within a step is explained once, with the
   parameters of its first run), on a connection of the same engine (server settings
   as they are, and the ``SET LOCAL work_mem`` the service set for its transaction),
   in a transaction rolled back afterwards; statements that JIT-compiled are explained
   again with ``jit = off``, and those run with more ``work_mem`` again with the
   server's.
4. What-if: the plain index on ``clips (video_sha256)`` that R2 first proposed is built
   inside a rolled-back transaction and the exact-duplicate statement as it was
   explained again; the WAL of inserting clips is measured for each ``wal_compression``
   (one INSERT after a CHECKPOINT, ``EXPLAIN (ANALYZE, WAL)``, rolled back).
5. Records table and index sizes, and writes ``benchmarks/results/scale_db.json``.

About 12 minutes on the 2-core CI machine (7 of them the load); docs/capacity.md reads
the results.

Redis: a private ``redis-server`` on a socket of its own (the one the engine runs with,
7.0 from Debian), so that its CPU and command counters are this benchmark's alone.

    python -m benchmarks.scale_db [--reuse] [--donors 1000000] [--clips 10000000]
                                  [--no-full-scan]

One module per part, each importing only the ones above it in this list:

- ``database``: the benchmark's database, its size marker, creating it afresh;
- ``data``: the shape of the generated data (heavy donors, the Pareto tail, calls, payees);
- ``load``: the bulk load of step 2 as ``STEPS``, an ordered list of named steps, each
  timed and reported (``load.steps_seconds``);
- ``capture``: the SELECTs the services issue, their ``EXPLAIN``, the what-if indexes;
- ``redis_server``: the private Redis and the meter of its CPU and commands;
- ``steps``: the measured steps of 3 and 4: the real services on the filled database;
- ``sizes``: table and index sizes, server settings;
- ``main``: the run, in the order above (``__main__`` runs it).
"""
