"""Benchmarks of what the ledger costs, each against a baseline of the same run.

Run them with `make bench` (SQLite) or `make bench PG=1` (SQLite, then
PostgreSQL on a throwaway server), or `python -m loginledger.adapters.bench
--help`. Every figure is the median of several rounds, with the rounds'
spread; every target is a ratio against a baseline measured in the same
rounds, because absolute timings on a shared machine mean little. Results go
to `bench-results/` as JSON and as a Markdown table; docs/performance.md
holds the table of one real run and explains it.

The parts, one module each:

- `append_path`: appends through the SQLite store against plain aiosqlite
  inserts and eventsourcing's SQLite recorder.
- `postgres_append`: appends through the PostgreSQL store against plain
  asyncpg inserts.
- `callbacks`: a whole callback against a naive handler, a storm of
  duplicates, and many unrelated logins at once.
- `growth`: callback and refresh cost as the database and a session's
  stream grow, and peak memory of `verify_streams`.
- `replay`: reading every event back, as a projection rebuild must.

Their helpers: `timing` (rounds, medians, ratios), `results` (the report,
JSON and Markdown), `profiles` (sizes), `runner` (the order of the parts),
`logins` and `counting` (ids, a slow provider, a store that counts calls),
`naive` (the baseline login flow), `bulk` (fast generation of valid
ledgers), `memory_probe` (peak memory in a process of its own),
`eventsourcing_recorder` and `postgres_server` (the other baselines' setup).

Benchmarks are not tests: nothing in the test suite depends on a timing;
tests/test_bench_smoke.py only runs each part at a tiny size.
"""
