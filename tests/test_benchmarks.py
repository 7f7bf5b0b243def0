"""The benchmarks run at their smallest scale on each database, so they cannot rot: every
figure is there with its reference and ratio, in the table and in the JSON. Timings are
never asserted (they belong to the machine, not to the code)."""

from __future__ import annotations

import json
import os

import pytest
from rich.console import Console

from benchmarks import run as bench
from tests.conftest import PG_ADMIN_URL, _pg_available

# Storage tests (docs/testing.md): the benchmark makes its own databases
# (benchmarks/targets.py), one of each of --databases per test, so the two run side by side.
pytestmark = pytest.mark.storage

SMALLEST = bench.Scale(append_families=2, append_per_family=3, http_families=4, http_per_family=3, http_clients=2,
                       family_lengths=(3, 6), dataset_families=2, replay_small=0, query_families=(2, 4),
                       query_samples=3)
"""The smallest run that still takes every phase: concurrent clients (two), a family's
record growing (3 events, then 6), two replays (half the data set, then all of it) and
queries at two sizes (the second made by cloning). ``--quick`` (``QUICK``) takes about a
fifth longer, for figures nobody reads here: the time is the processes each phase starts."""

MEASURES = [
    "append: application", f"append: HTTP, {SMALLEST.http_clients} clients", "append: HTTP p50 latency",
    "append: HTTP p99 latency", "peak memory: API process", "growth: replay time", "peak memory: replay process",
    f"append: HTTP, {SMALLEST.http_clients} clients, projection worker", "ceiling: HTTP endpoint that does nothing",
    "ceiling: the ledger's decode alone", "ceiling: the library's own command over HTTP",
    f"append: a command on a {SMALLEST.family_lengths[0]}-event family",
    f"append: a command on a {SMALLEST.family_lengths[1]}-event family", "replay in one process",
    "goal: the ledger's command, share of the stack's own", "goal: the ledger's command p99, against the stack's own",
    "goal: a one-process rebuild, share of the decode alone", "goal: a two-process rebuild against one",
    "goal: a family's deadlines p99", "goal: a team's overdue list p99",
]
QUERIES = ["a family's chronology", "a family's deadlines", "a team's overdue list", "a team's caseload"]


@pytest.mark.slow
def test_quick_benchmarks_report_every_figure_with_its_reference(tmp_path, database):
    if database == "postgres":
        problem = _pg_available()
        if problem is not None:
            if os.environ.get("CI"):
                pytest.fail(f"PostgreSQL is required in CI and is not reachable: {problem}")
            pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {problem}")
    output = tmp_path / "results.json"
    result = bench.run(quick=True, databases=[database], output=output, cache=tmp_path / "cache",
                       pg_admin=PG_ADMIN_URL, log=lambda line: None, scale=SMALLEST)
    written = json.loads(output.read_text())
    assert written["figures"] == json.loads(json.dumps(result["figures"]))
    assert written["dataset"]["events"] > 0 and written["quick"] is True
    assert {f["database"] for f in written["figures"]} == {database}
    mine = [f for f in written["figures"] if f["database"] == database]
    names = [f["measure"] for f in mine]
    for measure in MEASURES:
        assert any(n.startswith(measure) for n in names), (database, measure, names)
    assert sum(n.startswith("replay: ") for n in names) == 2  # growth: two sizes
    for query in QUERIES:
        sizes = [f for f in mine if f["measure"].startswith(f"query p99: {query}, ")]
        assert len(sizes) == 2
        for size in sizes:  # A B B A: each size measured twice, the smaller on a copy of its state
            assert len(size["detail"]["p99_ms_runs"]) == len(size["detail"]["ref_p99_ms_runs"]) == 2
        assert any(n.startswith(f"growth: {query} p99") for n in names)
    for f in mine:
        assert f["figure"] >= 0 and f["unit"]
        if f["reference"] is not None:
            assert f["reference"] > 0 and f["ratio"] is not None and f["reference_what"]
        if f["goal"]:
            assert isinstance(f["goal_met"], bool)
    if database == "postgres":  # several API processes: `ledger serve --workers`, PostgreSQL only
        assert any(n.endswith("clients, 2 API processes") for n in names), names
    worker = next(f for f in mine if f["measure"].endswith("projection worker"))
    assert worker["detail"]["catch_up_s"] >= 0  # the worker brought the read models to the end
    goals = {n.split(":")[0] for n, f in zip(names, mine, strict=True) if f["goal"]}
    assert {"goal", "ceiling", "growth", "peak memory"} <= goals  # issue 24's goals, each against its ceiling
    console = Console(record=True, width=220)
    console.print(bench.table(written))
    text = console.export_text()
    assert database in text and "met" in text
