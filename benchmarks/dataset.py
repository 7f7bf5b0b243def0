"""The benchmark's data: demo families recorded through the real command path, once.

Recording ~1,000,000 events through ``ledger demo`` takes tens of minutes, so the full
run records them once into a SQLite file in a cache folder outside the repository
(``~/.cache/ledger-bench`` by default), with a fixed master key, a fixed "today" and
fixed seeds, and every later run copies that file's rows into its own fresh database:
the SQLite file itself for SQLite, its stored rows (events, family keys, hash chain)
bulk-copied for PostgreSQL. The rows are byte for byte what the command path stored.

A fifth of the families whose story ends with every episode closed ask there and then for
their personal data to be erased (``demo.generate(erasures=...)``: about one family in ten),
so that the log holds erasures where they happened, as a service's does, and a rebuild
meets erased families all along it (a cost that grows with erasures shows in the replay
rows; docs/benchmarks.md, "Eighteenth round"). A copy of the first rows for the smaller
sizes takes every family key as the whole set left it, so a family erased later in the
log reads erased there without its erasure event, as one whose erasure stopped between
its two steps would (``Ledger.erase``).

Several seeds are recorded by parallel processes into the same file (each seed its own
families and ids); their commands interleave through SQLite's writer lock exactly as
concurrent writers' would.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

# A fixed master keyring and "today": the cached rows can be read by every later run.
MASTER_KEYS = "bench:" + "YmVuY2htYXJrLW1hc3Rlci1rZXktMzItYnl0ZXMhISE="
UNTIL = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)
SECRET = "benchmark-signing-key-not-for-production-0123456789"
ERASURES = 0.2
"""The share of the families ending closed that are erased (``demo.generate``)."""


def default_cache() -> Path:
    return Path.home() / ".cache" / "ledger-bench"


def settings_for(data_dir: Path, database_url: str | None = None, schema: str = "") -> object:
    from ledger.settings import Settings

    return Settings(data_dir=data_dir, database_url=database_url, database_schema=schema,
                    jwt_secret=SECRET, master_keys=MASTER_KEYS)


def _record(path: str, families: int, seed: int) -> dict[str, object]:
    from demo import generate

    return generate(settings_for(Path(path).parent, f"sqlite:///{path}"),  # type: ignore[arg-type]
                    families=families, seed=seed, until=UNTIL, erasures=ERASURES)


def _create(path: str) -> None:
    from ledger.application import Ledger

    Ledger(settings_for(Path(path).parent, f"sqlite:///{path}")).close()  # type: ignore[arg-type]


def source(cache: Path, families: int, *, processes: int | None = None) -> Path:
    """The cached SQLite file holding ``families`` demo families (recorded if missing)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"demo-{families}-families-erasures.sqlite"  # "-erasures": not a set cached before them
    if path.exists():
        return path
    partial = path.with_suffix(".partial.sqlite")
    for leftover in cache.glob(partial.name + "*"):
        leftover.unlink()
    processes = max(1, min(processes or (2 if families >= 100 else 1), families))
    shares = [families // processes + (1 if i < families % processes else 0) for i in range(processes)]
    _create(str(partial))  # the tables, before the writers start
    jobs = [(str(partial), n, seed) for seed, n in enumerate(shares, start=1)]
    if processes == 1:
        _record(*jobs[0])
    else:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            pool.starmap(_record, jobs)
    with sqlite3.connect(partial) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    partial.rename(path)
    return path


def event_count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])


if __name__ == "__main__":  # python -m benchmarks.dataset FAMILIES [CACHE]
    import sys
    import time

    started = time.perf_counter()
    found = source(Path(sys.argv[2]) if len(sys.argv) > 2 else default_cache(), int(sys.argv[1]))
    print(found, event_count(found), f"{time.perf_counter() - started:.0f} s")
