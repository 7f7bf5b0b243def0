"""Replay: events/s rebuilding every read model (``replay.rebuild``, as ``ledger replay``
does, with its worker processes), in a process of its own so its peak memory is its own
(plus its workers'); the reference reads every
stored event row in pages by position and decodes it with orjson, nothing else.

Run as ``python -m benchmarks.replay SETTINGS_JSON``: prints the rebuild's figures as JSON.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from benchmarks.targets import Target

PAGE = 1000


def rebuild_all(tgt: Target, phase: str, workers: int | None = None) -> dict[str, Any]:
    """Rebuild every read model in a fresh process (with ``workers`` worker processes, by
    default as ``ledger replay`` chooses); events, seconds, rate, workers, peak RSS."""
    s = tgt.settings(phase)
    spec = {"data_dir": str(s.data_dir), "database_url": s.database_url, "schema": s.database_schema,
            "workers": workers}
    out = subprocess.run([sys.executable, "-m", "benchmarks.replay", json.dumps(spec)], check=True,
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def read_and_decode(tgt: Target, phase: str) -> dict[str, Any]:
    """The reference: every event row read by position in pages of 1,000, orjson-decoded."""
    return _rows_read(tgt, phase, "state", lambda row: orjson.loads(row[1]))


def _rows_read(tgt: Target, phase: str, columns: str, decode: Callable[[Any], Any]) -> dict[str, Any]:
    """Every event row (its position, then ``columns``) read by position in pages of
    1,000 on a plain connection, each given to ``decode``: events, seconds, rate."""
    table, position = tgt.events_table(), tgt.position_column()
    select = tgt.mark(f"SELECT {position}, {columns} FROM {table} WHERE {position} > ? ORDER BY {position} "
                      f"LIMIT {PAGE}")
    events, last = 0, 0
    with tgt.plain(phase) as conn:
        started = time.perf_counter()
        while True:
            rows = conn.execute(select, (last,)).fetchall()
            if not rows:
                break
            for row in rows:
                decode(row)
            events += len(rows)
            last = rows[-1][0]
        seconds = time.perf_counter() - started
    return {"events": events, "seconds": seconds, "rate": events / seconds if seconds else 0.0}


def decode_only(tgt: Target, phase: str) -> dict[str, Any]:
    """The ceiling for a rebuild: every event row read by position in pages of 1,000,
    on a plain connection as the reference reads them, and decoded by the ledger's own
    mapper (untagging, and opening the personal fields under each family's key), with no
    read model. A rebuild decodes every event once, so it cannot run faster than this.
    The rows are fetched as the reference fetches them so that the ratio is the decode's
    alone; the same decode over the library's notification log (``select_notifications``,
    a frozen dataclass and a UUID a row: what the rebuild does not use) is in the detail."""
    from eventsourcing.persistence import StoredEvent

    from ledger.application import Ledger

    ledger = Ledger(tgt.settings(phase))
    try:
        to_event = ledger.mapper.to_domain_event
        found = _rows_read(tgt, phase, "originator_id, originator_version, topic, state",
                           lambda row: to_event(StoredEvent(row[1], row[2], row[3], row[4])))
        via_log = _decode_via_notification_log(ledger)
    finally:
        ledger.close()
    return {**found, "via_notification_log_rate": via_log}


def _decode_via_notification_log(ledger: Any) -> float:
    """Events/s read through the library's ``select_notifications`` and decoded."""
    select, to_event = ledger.recorder.select_notifications, ledger.mapper.to_domain_event
    events, last = 0, 0
    started = time.perf_counter()
    while True:
        notes = select(last + 1, PAGE)
        if not notes:
            break
        for note in notes:
            to_event(note)
        events += len(notes)
        last = notes[-1].id
    seconds = time.perf_counter() - started
    return events / seconds if seconds else 0.0


def _main(spec: dict[str, Any]) -> None:
    from benchmarks.dataset import settings_for
    from ledger.application import Ledger
    from projections.projector import Projector
    from replay.rebuild import rebuild

    ledger = Ledger(settings_for(Path(spec["data_dir"]), spec["database_url"], spec["schema"]))  # type: ignore[arg-type]
    try:
        projector = Projector(ledger)
        done = rebuild(projector, workers=spec.get("workers"))
    finally:
        ledger.close()
    # Worker processes have exited (and been waited for): the largest one's peak, counted
    # once per worker, is an upper bound on what they held together.
    worker_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if done.workers > 1 else 0.0
    print(json.dumps({"events": done.events, "seconds": done.seconds, "rate": done.rate, "workers": done.workers,
                      "parent_peak_rss_mb": _peak_kb() / 1024, "worker_peak_rss_mb": worker_mb,
                      "peak_rss_mb": _peak_kb() / 1024 + worker_mb * done.workers}))


def _peak_kb() -> int:
    """This process's own peak resident memory: VmHWM (Linux). Not ``ru_maxrss``, which
    keeps the parent's peak across the fork and exec that started this process (the
    benchmark's parent has just copied a million rows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    _main(json.loads(sys.argv[1]))
