"""The console benchmark (``python -m benchmarks.console``) runs at a tiny scale, so it
cannot rot: every read is timed on each database, console and API side by side, and the
table has a row for each. Timings are never asserted (they belong to the machine, not to
the code); the 150 ms goal is the benchmark's to judge, not the suite's."""

from __future__ import annotations

import json
import os

import pytest

from benchmarks import console as bench
from tests.conftest import PG_ADMIN_URL, _pg_available

READS = ("family page, ", "search by name, ", "a team's open families, a page, ")


@pytest.mark.slow
def test_quick_console_benchmark_prints_a_row_for_every_read_on_every_database(tmp_path, capsys):
    databases = ["sqlite"]
    problem = _pg_available()
    if problem is None:
        databases.append("postgres")
    elif os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI and is not reachable: {problem}")
    output = tmp_path / "console.json"
    assert bench.main(["--quick", "--database", "both" if len(databases) == 2 else "sqlite",
                       "--output", str(output), "--cache", str(tmp_path / "cache"),
                       "--postgres", PG_ADMIN_URL]) == 0
    printed = capsys.readouterr().out
    written = json.loads(output.read_text())
    assert written["quick"] is True and written["dataset"]["events"] > written["scale"]["families"]
    assert not (tmp_path / "cache").exists()  # the quick data set is recorded in the run's own folder
    for database in databases:
        rows = [r for r in written["reads"] if r["database"] == database]
        assert [next(p for p in READS if r["read"].startswith(p)) for r in rows] == list(READS)
        for r in rows:
            for side in (r["api_ms"], r["console_ms"]):
                assert set(side) == {"p50", "p95", "p99"} and 0 < side["p50"] <= side["p95"] <= side["p99"]
            assert r["ratio_p50"] > 0 and r["ratio_p99"] > 0 and isinstance(r["goal_met"], bool)
            assert r["detail"]["samples"] == written["scale"]["samples"]
        assert rows[0]["detail"]["api_requests"] == 3  # the family page is three API reads
        assert all(r["detail"]["found_median"] >= 1 for r in rows[1:])  # every search found someone
        lines = [line for line in printed.splitlines() if f" {database} " in line]
        for read in READS:
            assert any(read in line and " ms " in line for line in lines), (database, read, printed)
    assert "goal: console p99 <= 150 ms" in printed
