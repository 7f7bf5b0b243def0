"""Rebuild read models from position 0 into fresh tables, and swap them in when complete.

1. Drop any ``<table>__rebuild`` left by an interrupted run and create them afresh,
   without their secondary indexes (built once at the end of step 2, from sorted rows,
   instead of row by row at random places: the rebuild's cost then grows with the events,
   not faster). Loading looks no row up but by primary key (an erased family is not
   derived again, ADR 0054). On PostgreSQL the tables whose key nothing uses while
   loading are made without it too, and keyed with the indexes
   (``ReadModel.keyed_after_loading``, ADR 0055).
2. Walk the log up to its current end family by family, a page of whole families at a
   time: each page's events are read in one query (their keys in another), decoded once,
   and applied to the fresh tables in one transaction. Every read model's rows belong to
   one family and depend only on that family's events in their order, so this gives the
   rows a walk in global order gives; and a family's whole stream is at hand when the
   models that derive a family afresh (deadlines, episodes) need it, so nothing is read
   or decoded twice and only one page is held in memory (ADR 0015). Pages are
   independent, so from ``PARALLEL_FROM`` events worker processes apply them side by
   side, one per CPU (``replay.workers``, ADR 0017).
3. Swap, in one transaction that locks the models' tracking rows: catch the fresh tables
   up to the live position (or beyond), rename the live tables aside, rename the fresh
   ones in, and set the position. The live tables are never written before this step, so
   a rebuild killed at any moment leaves them as they were, and the next run starts
   again. The tables set aside are dropped after, a table a transaction (ADR 0058).

On SQLite every step holds the one write lock, which a live command waits for, for a
short transaction at a time (ADR 0058).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from uuid import UUID

from ledger.sql import Database, Tx
from projections.base import ReadModel
from projections.projector import Projector, Unprocessable
from projections.store import QUARANTINE, ViewStore

log = logging.getLogger("ledger.replay")

SUFFIX = "__rebuild"
PAGE = 5_000
"""About how many events a page holds (whole families). A worker's peak memory is its
process (about 100 MB) plus one page: at 10,000 events a SQLite rebuild of 1,082,154
events with two workers peaked at 520 MB (parent 102 + 2 x 209), at 5,000 at 455 MB
(104 + 2 x 175), at the same rate within the runs' noise (issue 24, docs/benchmarks.md)."""
SQLITE_CACHE_KB = 262_144
PARALLEL_FROM = 50_000
"""Events from which a rebuild starts worker processes by default (each costs about a
second to start and to load the packs)."""
MAX_WORKERS = 8


@dataclass(frozen=True)
class Rebuilt:
    models: tuple[str, ...]
    events: int
    position: int
    seconds: float
    workers: int = 1
    """Processes that applied the pages (1: this one)."""
    quarantined: tuple[Unprocessable, ...] = ()
    """Families a read model could not apply, held back (``Projector.apply_isolated``)."""

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def rebuild(
    projector: Projector,
    names: Sequence[str] | None = None,
    *,
    page: int = PAGE,
    workers: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Rebuilt:
    """Rebuild the named read models (all by default); ``on_progress(events, total)``.
    ``page``: about how many events each transaction applies (whole families);
    ``workers``: how many processes apply pages side by side (default: ``worker_count``)."""
    models = [projector.model(n) for n in names] if names else list(projector.models)
    started = time.perf_counter()
    position = projector.ledger.recorder.max_notification_id() or 0
    events, count, quarantined = build(projector, models, SUFFIX, position, page=page, workers=workers,
                                       on_progress=on_progress)
    fresh = {k: v for m in models for k, v in projector.store.tables(m.tables, SUFFIX).items()}
    position = _swap(projector, models, fresh, position, quarantined)
    _drop_retired(projector, models)
    return Rebuilt(tuple(m.name for m in models), events, position, time.perf_counter() - started, count,
                   tuple(quarantined))


def build(projector: Projector, models: Sequence[ReadModel], suffix: str, position: int, *, page: int = PAGE,
          workers: int | None = None, on_progress: Callable[[int, int], None] | None = None,
          ) -> tuple[int, int, list[Unprocessable]]:
    """Fresh tables (``<table><suffix>``) of the models, filled from the log up to
    ``position`` without touching the live ones: (events applied, processes, the
    families held back). The live tables, the positions and the quarantine are as they were."""
    store = projector.store
    token = uuid.uuid4().hex[:8]
    fresh: dict[str, str] = {}
    for model in models:
        fresh.update(store.tables(model.tables, suffix))
    keyed = [t for model in models for t in model.keyed_after_loading]
    loaded = {t + LOADED: name for t, name in store.tables(keyed, suffix + LOADED).items()}
    ordered = {t + SORTED: f"temp.{store.table(t + suffix + SORTED)}" for t in keyed}
    names = {**fresh, **loaded, **ordered, "ix": f"_{token}"}
    create: list[str] = []
    keys: list[list[str]] = []  # a table's statements each
    indexes: list[str] = []
    for model in models:
        statements = model.ddl()
        if model.keyed_after_loading:
            statements, added = key_after_loading(statements, model.keyed_after_loading, postgres=store.postgres)
            keys += added
        for statement in statements:
            (indexes if statement.lstrip().upper().startswith("CREATE INDEX") else create).append(statement)
    with store.transaction(names) as tx:
        drop_fresh(projector, tx, models, suffix)
        for statement in create:
            tx.run(statement)
    families = projector.families(position)
    total = sum(n for _, n in families)
    pages = list(_pages(families, page))
    count = worker_count(workers, total, len(pages))
    if count > 1:
        pages = list(_pages(families, page, tail=count * page))
    quarantined: list[Unprocessable] = []
    if count > 1:
        from replay.workers import apply_in_workers

        events = apply_in_workers(projector, models, fresh, create, position, pages, count,
                                  lambda events: on_progress(events, total) if on_progress else None, quarantined)
    else:
        events = 0
        for part in pages:
            with store.transaction(fresh) as tx:
                if not store.postgres:
                    tx.run(f"PRAGMA cache_size = -{SQLITE_CACHE_KB}")
                applied, found = apply_page(projector, models, tx, part, position)
                events += applied
                quarantined += found
            if on_progress is not None:
                on_progress(events, total)
    if store.postgres:  # the keys added with the secondary indexes, in their transaction
        with store.transaction(names) as tx:  # secondary indexes built once, from the loaded rows
            for statement in [k for steps in keys for k in steps] + indexes:
                tx.run(statement)
        return events, count, quarantined
    # SQLite has one write lock, which a live command waits for (10 s at most): it is held
    # by a short transaction at a time, a table's part of its rows moved in, an index.
    unsealed = {t for m in models for t in m.unsealed_personal}
    for table, steps in zip(keyed, keys, strict=True):
        _key_on_sqlite(projector, names, table, suffix, steps, zeroed=table in unsealed)
    for statement in indexes:  # secondary indexes built once, from the loaded rows
        with store.transaction(names) as tx:
            tx.run(statement)
    return events, count, quarantined


KEYING_ROWS = 100_000
"""On SQLite, how many rows one transaction moves into a table being keyed: at a million
events, under half a second of the write lock for the chronology's rows, against 9.7 s
for all of them (docs/benchmarks.md, "Twentieth round")."""


def _key_on_sqlite(projector: Projector, names: dict[str, str], table: str, suffix: str, steps: Sequence[str],
                   *, zeroed: bool) -> None:
    """Key a loaded table on SQLite (``key_after_loading``'s statements): rename it and
    make the table again, in one short transaction; sort its rows into a temporary table
    of a connection of this rebuild's own, which writes nothing of the database file and
    so takes no write lock; move them in in the key's order, ``KEYING_ROWS`` a
    transaction; drop the loaded table. If ``zeroed`` (something personal unsealed), the
    pages both tables held are zeroed as they are freed; the temporary file goes when the
    connection closes."""
    rename, make, order, move = steps
    store = projector.store
    with store.transaction(names) as tx:
        tx.run(rename)
        tx.run(make)
    connection = sqlite3.connect(projector.ledger.settings.sqlite_path(), isolation_level=None, timeout=60)
    try:
        connection.execute(f"PRAGMA secure_delete = {'ON' if zeroed else 'FAST'}")
        tx = Tx(Database(None, postgres=False), connection.cursor(), names)
        tx.run(order)  # the connection's default page cache: the sort spills to a temporary file
        first, moved = 1, KEYING_ROWS
        while moved == KEYING_ROWS:
            connection.execute("BEGIN IMMEDIATE")
            tx.run(move, (first, first + KEYING_ROWS - 1))
            moved = tx.cursor.rowcount
            connection.execute("COMMIT")
            first += KEYING_ROWS
        if zeroed:
            tx.run(f"DROP TABLE {{{table}{SORTED}}}")
    finally:
        connection.close()
    loaded = table + suffix + LOADED
    with store.transaction(names) as tx:
        store.drop(tx, [loaded], zeroed=[loaded] if zeroed else [])


_TABLE = re.compile(r"\s*CREATE TABLE \{(\w+)\} \((.*)\)\s*", re.DOTALL)
_TRAILING_KEY = re.compile(r",\s*PRIMARY KEY \(([\w, ]+)\)$")
_COLUMN_KEY = re.compile(r"\b(\w+) (\w+) PRIMARY KEY\b")


LOADED = "__loaded"
"""On SQLite, the suffix of a keyed table's name while its rows are moved into the keyed
table (``key_after_loading``): ``{chronology__loaded}``."""
SORTED = "__sorted"
"""On SQLite, the suffix of the temporary table holding a loaded table's rows in its key's
order (``key_after_loading``): ``{chronology__sorted}``."""


def key_after_loading(statements: Sequence[str], tables: Sequence[str], *, postgres: bool = True,
                      ) -> tuple[list[str], list[list[str]]]:
    """The statements with the tables named made without their primary key, and for each
    table named, in order, the statements that key it once the rows are in
    (``ReadModel.keyed_after_loading``).
    The key is a column's ``PRIMARY KEY`` (the column made ``NOT NULL`` in its place) or
    the table's last ``PRIMARY KEY (...)``; a named table with neither is an error, not a
    key left out. PostgreSQL adds the key to the table (``ALTER TABLE ... ADD PRIMARY
    KEY``). SQLite cannot, so the loaded table is renamed (``{<table>__loaded}``), made
    again as its statement says, key and all, its rows sorted into a temporary table
    (``{<table>__sorted}``) and moved in in the key's order (one append after another at
    the B-tree's end), a range of the sorted rows (``?``, ``?``: the first and the last)
    at a time; the caller drops the loaded and the sorted ones."""
    made: list[str] = []
    keys: dict[str, list[str]] = {}
    for statement in statements:
        found = _TABLE.fullmatch(statement)
        if found is None or found[1] not in tables:
            made.append(statement)
            continue
        table, columns = found.groups()
        trailing, inline = _TRAILING_KEY.search(columns), list(_COLUMN_KEY.finditer(columns))
        if trailing is not None:
            columns, key = columns[:trailing.start()], trailing[1]
        elif len(inline) == 1:
            column = inline[0]
            key = column[1]
            columns = f"{columns[:column.start()]}{key} {column[2]} NOT NULL{columns[column.end():]}"
        else:
            raise ValueError(f"no PRIMARY KEY to add after loading in the statement of {table}")
        made.append(f"CREATE TABLE {{{table}}} ({columns})")
        loaded, ordered = f"{{{table}{LOADED}}}", f"{{{table}{SORTED}}}"
        keys[table] = [f"ALTER TABLE {{{table}}} ADD PRIMARY KEY ({key})"] if postgres else [
            f"ALTER TABLE {{{table}}} RENAME TO {loaded}", statement,
            f"CREATE TEMP TABLE {ordered} AS SELECT * FROM {loaded} ORDER BY {key}",
            f"INSERT INTO {{{table}}} SELECT * FROM {ordered} WHERE rowid BETWEEN ? AND ? ORDER BY rowid"]
    missing = [t for t in tables if t not in keys]
    if missing:
        raise ValueError(f"no CREATE TABLE statement for {', '.join(missing)}")
    return made, [keys[t] for t in tables]


def drop_fresh(projector: Projector, tx: Tx, models: Sequence[ReadModel], suffix: str) -> None:
    """Drop the models' fresh tables (``<table><suffix>``, and any being keyed on SQLite
    when a rebuild stopped: ``<table><suffix>__loaded``), if any, and any live table a
    rebuild stopped just after its swap left set aside (``<table>__retired``), zeroing the
    pages of those holding something personal unsealed (``ViewStore.drop``)."""
    ends = (suffix, suffix + LOADED, RETIRED)
    projector.store.drop(tx, [t + end for m in models for t in m.tables for end in ends],
                         zeroed=[t + end for m in models for t in m.unsealed_personal for end in ends])


RETIRED = "__retired"
"""The suffix of a live table the swap set aside: ``chronology__retired``."""


def _drop_retired(projector: Projector, models: Sequence[ReadModel]) -> None:
    """Drop the live tables the swap set aside, a table a transaction (zeroing the pages
    of those holding something personal unsealed, ``ViewStore.drop``).

    On SQLite a drop walks every page of the table and its indexes while it holds the one
    write lock, which a live command waits for 10 s at most: at a million events the
    chronology's drop, in the swap, held it 7.7 s of the swap's 12.7, nearly all of it
    reading pages from the disk. So each table's pages are read first, outside any write
    transaction (SQLite's ``dbstat``, which walks every page of a table or an index,
    overflow pages included), and the drop itself finds them in memory (0.4 s)."""
    store = projector.store
    for model in models:
        for table in model.tables:
            name = table + RETIRED
            if not store.postgres:
                _read_through(store, name)
            with store.transaction() as tx:
                store.drop(tx, [name], zeroed=[name] if table in model.unsealed_personal else [])


def _read_through(store: ViewStore, table: str) -> None:
    """Read every page of a SQLite table and of its indexes, to have them in memory; a
    SQLite built without ``dbstat`` reads nothing, and its drop reads them itself."""
    try:
        with store.read() as tx:
            trees = [r["name"] for r in tx.rows("SELECT name FROM sqlite_master WHERE tbl_name = ?", (table,))]
            for tree in trees:
                tx.one("SELECT count(*) AS pages FROM dbstat WHERE name = ?", (tree,))
    except Exception as e:  # noqa: BLE001 - only a speed-up: the drop reads what it needs anyway
        log.info("the pages of %s were not read ahead of its drop: %s", table, e)


def worker_count(asked: int | None, events: int, pages: int) -> int:
    """How many processes apply the pages: as asked, else one per CPU (at most
    ``MAX_WORKERS``) once the log is big enough to repay starting them."""
    if asked is None:
        asked = min(os.cpu_count() or 1, MAX_WORKERS) if events >= PARALLEL_FROM else 1
    return max(1, min(asked, pages))


def apply_page(projector: Projector, models: Sequence[ReadModel], tx: Tx, family_ids: list[UUID],
               upto: int) -> tuple[int, list[Unprocessable]]:
    """Read and decode a page of whole families once and apply it to every model in
    ``tx`` (which names the fresh tables): how many events it held, and the families a
    model could not apply (held back, as in a live catch-up; a family with an event that
    does not decode is held back from every model)."""
    with _collector_paused():
        return _apply_page(projector, models, tx, family_ids, upto)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector held off while a page is applied: a page makes
    tens of thousands of objects that all live until its end, and the collector scanned
    them again and again as they were made (about a quarter of the chronology's CPU in a
    rebuild, issue 24). Reference counting still frees everything as usual; what a page
    leaves in cycles is collected after it, as the collector's thresholds say."""
    if not gc.isenabled():  # paused by a caller already
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _apply_page(projector: Projector, models: Sequence[ReadModel], tx: Tx, family_ids: list[UUID],
                upto: int) -> tuple[int, list[Unprocessable]]:
    failed: list[Unprocessable] = []
    keys = getattr(projector.ledger, "keys", None)
    if keys is not None:  # as the store holds them now: a key cached here may have been destroyed since
        keys.preload(family_ids, afresh=True)
    streams = projector.changes_of(tx, family_ids, upto=upto, failed=failed)
    broken = {f.family_id for f in failed}
    for family_id in broken:
        streams.pop(family_id, None)
    changes = sorted((c for stream in streams.values() for c in stream), key=lambda c: c.position)
    decoded = {family_id: [c.event for c in stream] for family_id, stream in streams.items()}
    context = projector.context(tx)
    context.family_events, context.rebuilding = decoded.__getitem__, True
    found = list(failed)
    for model in models:
        found += projector.apply_isolated(tx, model, changes, context, record=False)
    return len(changes) + len(failed), found


def _pages(families: list[tuple[UUID, int]], page: int, tail: int = 0) -> Iterator[list[UUID]]:
    """Whole families, about ``page`` events at a time (a bigger family alone); the last
    ``tail`` events in pages of a quarter of that, so that processes working pages side by
    side finish close together (the last page is worked by one of them alone while the
    others wait: up to a whole page's time with pages all alike)."""
    left = sum(n for _, n in families)
    part: list[UUID] = []
    size = 0
    for family_id, count in families:
        limit = page if left > tail else max(1, page // 4)
        if part and size + count > limit:
            yield part
            part, size = [], 0
        part.append(family_id)
        size += count
        left -= count
    if part:
        yield part


def _swap(projector: Projector, models: list[ReadModel], fresh: dict[str, str], position: int,
          quarantined: list[Unprocessable]) -> int:
    """Catch the fresh tables up to the live position and swap them in, with the families
    held back by the rebuild replacing the models' quarantine; the position."""
    store = projector.store
    names = [m.name for m in models]
    for _ in range(20):
        target = max([position, *(store.position(n) for n in names)])
        with store.transaction({**fresh, **store.quarantine_table()}) as tx:
            live = store.lock_positions(tx, names)
            if max(live.values()) > target:
                continue
            found = list(quarantined)
            if target > position:  # what the live models applied while the rebuild ran
                failed: list[Unprocessable] = []
                delta = projector.read(tx, position, target - position, stop=target, failed=failed)
                found += failed
                context = projector.context(tx, delta)
                for model in models:
                    held = {f.family_id.hex for f in found if f.model in ("*", model.name)}
                    found += projector.apply_isolated(tx, model, delta, context, held, record=False)
            for name in names:
                tx.run(f"DELETE FROM {store.table(QUARANTINE)} WHERE model = ?", (name,))
            projector._quarantine(tx, found, names)
            for model in models:
                for table in model.tables:  # set aside, not dropped here: see _drop_retired
                    if store.exists(tx, table):  # as a drop's IF EXISTS let a missing one through
                        store.rename(tx, table, table + RETIRED)
                    store.rename(tx, table + SUFFIX, table)
                store.set_position(tx, model.name, target)
            return target
    raise RuntimeError("the live read models kept moving; stop the projection worker and retry")
