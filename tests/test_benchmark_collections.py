"""The collections benchmark (``python -m benchmarks.collections``) runs at a tiny scale,
so it cannot rot: both configurations are measured, each in a process of its own, and
the table has a row for each. Timings are never asserted (they belong to the machine);
what the run must show is that the two differ only in the threshold."""

from __future__ import annotations

import json

import pytest

from benchmarks import collections as bench
from ledger.heap import OLDEST_EVERY


@pytest.mark.slow
def test_quick_collections_benchmark_measures_both_thresholds_side_by_side(tmp_path, capsys):
    output = tmp_path / "collections.json"
    assert bench.main(["--quick", "--output", str(output), "--cache", str(tmp_path / "cache")]) == 0
    printed = capsys.readouterr().out
    written = json.loads(output.read_text())
    assert not (tmp_path / "cache").exists()  # the quick data set is recorded in the run's own folder
    runs = list(written["configurations"].values())
    assert [r["oldest_every"] for r in runs] == [bench.DEFAULT_OLDEST_EVERY, OLDEST_EVERY]
    for r in runs:
        assert r["commands"] == 60 and r["families"] >= 1 and r["tracked_objects"] > 0
        assert set(r["generations"]) == {"0", "1", "2"} and r["generations"]["0"]["collections"] > 0
        assert 0 < r["gc_share_of_cpu"] < 1 and r["cpu_ms_a_command"] > 0
    for label in ("CPython's default (10)", f"settled ({OLDEST_EVERY}, ADR 0049)", "collections' share of CPU"):
        assert label in printed
