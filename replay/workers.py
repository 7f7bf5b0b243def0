"""A rebuild's pages applied by several processes side by side (ADR 0017).

Decoding events and deriving a family's rows is Python work that holds one CPU, and a
page's rows depend only on its own families' events (ADR 0015), so pages can be applied
in any order by any process. Each worker process opens the ledger on its own, reads and
decodes the pages it is handed, and writes their rows:

- on PostgreSQL, straight into the fresh ``__rebuild`` tables, in a transaction per page
  (different families' rows never touch one another);
- on SQLite, where one writer at a time holds the database, into a scratch SQLite file of
  the page's own (in a folder beside the ledger's file), attached to a connection that
  reads the events from the ledger's file. As pages come back, the parent copies their
  scratch files' tables into the fresh tables, a few pages a transaction (``INSERT ...
  SELECT``, inside SQLite), while the workers go on with the next pages.

The parent hands out pages, counts what comes back, and then swaps as a one-process
rebuild does. A worker that fails stops the rebuild with its error; the live tables are
untouched and scratch files are removed with their folder.

Two things keep the workers' start and end from holding the rebuild up (ADR 0052): the
policy packs (a third of a megabyte pickled) reach the workers in a file, not in the
arguments a spawned process is started with, which the parent writes down a pipe and
waits on until the child has read them (so the workers started one after the other);
and a worker leaves with ``os._exit`` once its connections are closed, as a forked
child does, instead of tearing its interpreter down object by object (0.2-0.4 s a
worker, after every row is committed).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import nullcontext
from multiprocessing.util import Finalize
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.sql import Database, Tx
from replay.rebuild import apply_page

if TYPE_CHECKING:
    from projections.base import ReadModel
    from projections.projector import Projector

SCRATCH = "scratch"  # the schema name of a worker's scratch file on its SQLite connection
BATCH_EVENTS = 20_000
"""About how many events' rows the parent copies in one transaction (``_Gatherer``)."""
BATCH_FILES = 8
"""At most this many scratch files copied at once (SQLite attaches at most 10)."""


def apply_in_workers(
    projector: Projector,
    models: Sequence[ReadModel],
    fresh: dict[str, str],
    create: list[str],
    upto: int,
    pages: list[list[UUID]],
    workers: int,
    on_progress: Callable[[int], None],
    quarantined: list[Any] | None = None,
) -> int:
    """Apply ``pages`` (lists of family ids) to the fresh tables in ``workers`` processes;
    how many events they held. ``create``: the fresh tables' statements without their
    secondary indexes (a SQLite worker makes each page's scratch tables with them).
    ``on_progress(events so far)`` as each page is done. A worker process that dies
    (killed, out of memory) stops the rebuild with an error (``BrokenProcessPool``)
    rather than leaving it waiting for the page it held."""
    ledger = projector.ledger
    postgres = projector.store.postgres
    names = [m.name for m in models]
    tables = [t for m in models for t in m.tables]
    folder = None if postgres else ledger.settings.sqlite_path().resolve().parent
    events = 0
    with tempfile.TemporaryDirectory(prefix=".ledger-rebuild-", dir=folder) as work, \
            nullcontext(None) if postgres else _Gatherer(ledger.settings.sqlite_path(), tables, fresh) as gather:
        scratch = None if postgres else work
        packs = Path(work) / "packs.pickle"
        packs.write_bytes(pickle.dumps(ledger.packs, protocol=pickle.HIGHEST_PROTOCOL))
        args = (ledger.settings, str(packs), names, fresh, create, upto, scratch)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_start, initargs=args) as pool:
            pending = {pool.submit(_apply, index, part): index for index, part in enumerate(pages)}
            try:
                for done in as_completed(pending):
                    applied, found = done.result()
                    events += applied
                    if quarantined is not None:
                        quarantined += found
                    if gather is not None:  # while the workers go on with the next pages
                        assert scratch is not None  # a gatherer is made for a scratch folder only
                        gather.add(_scratch_file(scratch, pending[done]), applied)
                    on_progress(events)
                if gather is not None:
                    gather.flush()
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    return events


def _scratch_file(folder: str | Path, index: int) -> Path:
    return Path(folder) / f"page-{index:06d}.sqlite"


class _Gatherer:
    """Copies finished pages' scratch tables into the ledger's fresh tables as they come
    back (the parent is otherwise idle while the workers work; the fresh tables are not
    live, so a failure only means the next run starts over), and removes their files.

    Pages are copied a few at a time, in one transaction: the fresh tables' keys are
    random (event ids, people's tokens), so every copy rewrites index pages all over the
    tables, and each commit writes each page it touched once: a copy of several pages
    writes about as many index pages as a copy of one did (the whole rebuild's CPU a
    little lower in every pair measured, docs/benchmarks.md "Sixteenth round"). Pages
    are held back until they hold ``BATCH_EVENTS`` events or ``BATCH_FILES`` files
    (attached side by side) wait, or the last one is in (``flush``)."""

    def __init__(self, path: Path, tables: list[str], fresh: dict[str, str]) -> None:
        self.tables, self.fresh = tables, fresh
        self.connection = sqlite3.connect(path, isolation_level=None, timeout=60)
        self.ready: list[Path] = []
        self.events = 0

    def add(self, path: Path, events: int) -> None:
        """A page's scratch file is finished: copy it now, or with the next ones."""
        self.ready.append(path)
        self.events += events
        if self.events >= BATCH_EVENTS or len(self.ready) >= BATCH_FILES:
            self.flush()

    def flush(self) -> None:
        """Copy the finished pages not copied yet."""
        if self.ready:
            self.copy(self.ready)
        self.ready, self.events = [], 0

    def copy(self, paths: list[Path]) -> None:
        run = self.connection.execute
        names = [f"{SCRATCH}{n}" for n in range(len(paths))]
        attached: list[str] = []
        try:
            for name, path in zip(names, paths, strict=True):
                run(f"ATTACH DATABASE ? AS {name}", (str(path),))
                attached.append(name)
            run("BEGIN IMMEDIATE")
            for table in self.tables:
                for name in names:
                    run(f"INSERT INTO {self.fresh[table]} SELECT * FROM {name}.{self.fresh[table]}")
            run("COMMIT")
        finally:
            if self.connection.in_transaction:
                run("ROLLBACK")
            for name in attached:
                run(f"DETACH DATABASE {name}")
        for path in paths:
            path.unlink()

    def __enter__(self) -> _Gatherer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.connection.close()


# -- in a worker process --------------------------------------------------------------

_worker: dict[str, Any] = {}


def _start(settings: Any, packs: str, names: list[str], fresh: dict[str, str], create: list[str], upto: int,
           scratch: str | None) -> None:
    from ledger.application import Ledger
    from projections.projector import Projector

    ledger = Ledger(settings, packs=pickle.loads(Path(packs).read_bytes()))  # the parent's, exactly
    projector = Projector(ledger, create=False)
    models = [projector.model(n) for n in names]
    _worker.update(projector=projector, models=models, upto=upto, fresh=fresh, create=create, scratch=scratch,
                   connection=None)
    if scratch is not None:  # SQLite: the events are read from the ledger's file on a connection of our own
        connection = sqlite3.connect(settings.sqlite_path(), isolation_level=None, timeout=60)
        connection.row_factory = sqlite3.Row
        _worker["connection"] = connection
    Finalize(None, _stop, exitpriority=10)


def _apply(index: int, family_ids: list[UUID]) -> tuple[int, list[Any]]:
    """Apply one page: how many events it held, and the families held back."""
    projector, models, upto, fresh = _worker["projector"], _worker["models"], _worker["upto"], _worker["fresh"]
    connection = _worker["connection"]
    if connection is None:  # PostgreSQL: straight into the fresh tables
        with projector.store.transaction(fresh) as tx:
            return apply_page(projector, models, tx, family_ids, upto)
    # SQLite: into a scratch file of this page's own, which the parent copies in when it comes back.
    path = _scratch_file(_worker["scratch"], index)
    connection.execute(f"ATTACH DATABASE ? AS {SCRATCH}", (str(path),))
    try:
        connection.execute(f"PRAGMA {SCRATCH}.journal_mode = OFF")  # scratch: a crash restarts the rebuild
        connection.execute(f"PRAGMA {SCRATCH}.synchronous = OFF")
        tables = {name: f"{SCRATCH}.{quoted}" for name, quoted in fresh.items()}
        tx = Tx(Database(None, postgres=False), connection.cursor(), {**tables, "ix": ""})
        connection.execute("BEGIN")
        try:
            for statement in _worker["create"]:
                # A page's scratch tables hold one page: they need no index to be looked up
                # by (and SQLite names an attached database's index on the index, not the table).
                if not statement.lstrip().upper().startswith("CREATE INDEX"):
                    tx.run(statement)
            events, found = apply_page(projector, models, tx, family_ids, upto)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
    finally:
        connection.execute(f"DETACH DATABASE {SCRATCH}")
    return events, found


def _stop() -> None:
    """At the worker's exit (its pages committed, its exit already reported to the pool):
    close its connections, and leave without the interpreter's teardown."""
    if _worker.get("connection") is not None:
        _worker["connection"].close()
    if "projector" in _worker:
        _worker["projector"].ledger.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
