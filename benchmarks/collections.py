"""A long-running process's garbage collections: ``python -m benchmarks.collections``.

Case notes are recorded in process, with the read models written in each command's
transaction as an API process does (``LEDGER_PROJECTIONS=inline``), on open families of
the cached demo set picked at random, after the read models and their caches (the
deadline engine's walks, the projector's stream cache) were filled from the set. What
the process started with is frozen, the caches are not: the state of a process that
has served long enough for everything it froze at start to have been replaced.

Two configurations, each in a fresh process of its own, one after the other, differing
in one thing only, how many middle-generation collections apart CPython examines the
oldest generation: its default (10) and ``ledger.heap.OLDEST_EVERY`` (ADR 0049). For each:
CPU a command, each generation's collections (how many, the longest, in all), their
share of the CPU, the tracked objects at the end and how long one full collection of
them takes. The database is SQLite: the collections are the process's, not the
database's.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from benchmarks import dataset
from benchmarks.append import ACTOR, _filled, note

DEFAULT_OLDEST_EVERY = 10  # CPython's own threshold2


def measure(source: str, commands: int, oldest_every: int, seed: int = 7) -> dict[str, Any]:
    """Record ``commands`` case notes on a copy of ``source`` and time every collection."""
    from ledger.application import Ledger
    from ledger.heap import settled
    from projections.projector import Projector

    with tempfile.TemporaryDirectory(prefix="ledger-bench-gc-") as work:
        copy = Path(work) / "ledger.sqlite"
        shutil.copyfile(source, copy)
        ledger = Ledger(dataset.settings_for(Path(work), f"sqlite:///{copy}"))  # type: ignore[arg-type]
        try:
            with settled(ledger):
                thresholds = gc.get_threshold()
                gc.set_threshold(thresholds[0], thresholds[1], oldest_every)
                projector = Projector(ledger)
                projector.catch_up()
                ledger.inline = projector
                ledger.listeners.append(lambda recorded: projector.recorded(recorded.position, recorded.projected))
                with projector.store.transaction({}, commit=False) as tx:
                    rows = tx.rows(f"SELECT family_id, team FROM {projector.store.table('caseload_families')} "
                                   "WHERE open = 1 AND erased = 0 ORDER BY family_id")
                families = [(UUID(str(r["family_id"])), r["team"]) for r in rows]
                return _timed(ledger, families, commands, seed)
        finally:
            ledger.close()


def _timed(ledger: Any, families: list[tuple[UUID, str]], commands: int, seed: int) -> dict[str, Any]:
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started: list[float] = []

    def timing(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        else:
            pauses[info["generation"]].append(time.perf_counter() - started.pop())

    rng = random.Random(seed)
    gc.callbacks.append(timing)
    try:
        cpu = time.process_time()
        for i in range(commands):
            family_id, team = rng.choice(families)
            ledger.record(family_id, "CaseNoteRecorded", _filled("CaseNoteRecorded", note(i)),
                          actor={**ACTOR, "team": team})
        cpu = time.process_time() - cpu
    finally:
        gc.callbacks.remove(timing)
    tracked = len(gc.get_objects())
    full = time.perf_counter()
    gc.collect()
    full = time.perf_counter() - full
    collected = sum(sum(p) for p in pauses.values())
    return {
        "commands": commands, "families": len(families), "cpu_ms_a_command": cpu / commands * 1000,
        "generations": {g: {"collections": len(p), "longest_ms": max(p, default=0) * 1000, "total_ms": sum(p) * 1000}
                        for g, p in pauses.items()},
        "gc_share_of_cpu": collected / cpu, "tracked_objects": tracked, "full_collection_ms": full * 1000,
    }


def run(*, quick: bool, cache: Path, families: int, commands: int, output: Path,
        log: Any = print) -> dict[str, Any]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ledger-bench-gc-set-") as tmp:
        source = dataset.source(Path(tmp) if quick else cache, families)
        events = dataset.event_count(source)
        from ledger.heap import OLDEST_EVERY

        configurations = {f"CPython's default ({DEFAULT_OLDEST_EVERY})": DEFAULT_OLDEST_EVERY,
                          f"settled ({OLDEST_EVERY}, ADR 0049)": OLDEST_EVERY}
        found = {}
        for name, oldest_every in configurations.items():
            log(f"{name}: {commands:,} case notes on {families:,} families ({events:,} events) ...")
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                found[name] = {"oldest_every": oldest_every,
                               **pool.apply(measure, (str(source), commands, oldest_every))}
    result = {"quick": quick, "families": families, "events": events, "configurations": found,
              "seconds": round(time.perf_counter() - started, 1)}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2))
    return result


def table(result: dict[str, Any]) -> Any:
    from rich.table import Table

    t = Table(title=f"A long-running process's garbage collections{' (quick)' if result['quick'] else ''}: "
                    f"case notes in process, read models inline, {result['events']:,} events of "
                    f"{result['families']:,} families, caches filled")
    columns = ("oldest generation examined every", "commands", "CPU a command", "full collections: n / longest",
               "middle: n / longest", "young: n", "collections' share of CPU", "tracked objects at end",
               "one full collection then")
    for column in columns:
        t.add_column(column, justify="left" if column.startswith("oldest") else "right")
    for name, r in result["configurations"].items():
        young, middle, oldest = (r["generations"][g] for g in (0, 1, 2))
        t.add_row(name, f"{r['commands']:,}", f"{r['cpu_ms_a_command']:.2f} ms",
                  f"{oldest['collections']} / {oldest['longest_ms']:.0f} ms",
                  f"{middle['collections']} / {middle['longest_ms']:.1f} ms", f"{young['collections']:,}",
                  f"{r['gc_share_of_cpu']:.1%}", f"{r['tracked_objects']:,}", f"{r['full_collection_ms']:.0f} ms")
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.collections", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny scale, seconds not minutes (the test suite's)")
    parser.add_argument("--families", type=int, default=1000, help="demo families in the set (recorded once)")
    parser.add_argument("--commands", type=int, default=4000, help="case notes recorded in each configuration")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/collections.json"))
    parser.add_argument("--cache", type=Path, default=dataset.default_cache(),
                        help="where the demo data set is recorded once (outside the repository)")
    args = parser.parse_args(argv)
    from rich.console import Console

    console = Console(width=200 if not sys.stdout.isatty() else None)
    families, commands = (6, 60) if args.quick else (args.families, args.commands)
    result = run(quick=args.quick, cache=args.cache, families=families, commands=commands, output=args.output,
                 log=lambda line: console.print(line, style="dim"))
    console.print(table(result))
    console.print(f"written to {args.output} ({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
