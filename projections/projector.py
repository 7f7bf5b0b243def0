"""The projector: follows the ledger's notification log and keeps every read model current.

``catch_up`` works through the log in pages. Each page is one transaction: it locks the
read models' tracking rows (the library's tracking table) and reads their positions,
reads the events that follow them by position (the rows the library's notification log
serves, through the same connection), decodes them with the application's mapper,
applies them to every read model, and advances the positions in one statement. If the
transaction fails, nothing of the page is applied and the positions stay put; if another
projector got there first, the positions it locked say so and nothing is applied twice.
When nothing is new, a read-only check says so without taking the write lock.

One family's events never stop the others (ADR 0021): an event that cannot be decoded,
or that a read model cannot apply, quarantines that family for that read model (its rows
stay as they were before the event, marked on its reads; ``/health`` says degraded)
while every other family goes on, and the positions advance. ``retry_quarantined``
applies a quarantined family again (after a fix), ``ledger project --retry-quarantined``.

Modes (``LEDGER_PROJECTIONS``): ``inline`` (the default) catches up in the process that
recorded a command, right after it commits, so the caller's next read sees its own
write; ``worker`` leaves it to ``ledger project`` (PostgreSQL deployments with several
API processes), and reads that name a position wait for it (ADR 0011).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent

from aggregates.events import FamilyEvent
from aggregates.holds import REGISTER_ID
from ledger.serialisation import uuid_of
from ledger.sql import Tx
from projections.base import Change, Context, ReadModel
from projections.sealed import Sealer
from projections.store import FORMATS, FORMATS_DDL, QUARANTINE, QUARANTINE_DDL, ViewStore

if TYPE_CHECKING:
    from ledger.application import Ledger

log = logging.getLogger("ledger.projections")
PAGE = 500
ERASURE = "PersonalDataErased"
STREAM_CACHE_EVENTS = 20_000


def default_models() -> list[ReadModel]:
    from projections.registry import READ_MODELS

    return [cls() for cls in READ_MODELS]


@dataclass(frozen=True)
class Unprocessable:
    """An event (or a family's part of a page) a read model could not take: which model
    (``*``: none could, the event does not decode), family, where, what and why."""

    model: str
    family_id: UUID
    position: int | None
    event_id: str | None
    event_type: str | None
    error: str


class ProjectionsBehind(Exception):
    """A read asked for a position the read models have not reached in time."""

    def __init__(self, position: int, reached: int) -> None:
        super().__init__(f"the read models have reached position {reached}, not {position}")
        self.position, self.reached = position, reached


class StreamCache:
    """Families' decoded streams (their changes in version order), so that the models that
    derive a family afresh on every event (deadlines, episodes) are given the stream
    without reading and decoding it all again: a stream held here is extended with a
    page's newer changes of that family when they continue it without a gap, and read
    from the database otherwise. The most recently used streams are kept, up to
    ``limit`` events in all. A family's stream is dropped when its personal data is
    erased (the held events carry the names as they were decoded)."""

    def __init__(self, limit: int = STREAM_CACHE_EVENTS) -> None:
        self.limit, self.held = limit, 0
        self._streams: OrderedDict[UUID, list[Change]] = OrderedDict()
        self._lock = threading.Lock()

    def extended(self, family_id: UUID, newer: Sequence[Change]) -> list[Change] | None:
        """The family's held stream with ``newer`` (its changes in a page, in order) after
        it, or None if it is not held or the versions would leave a gap. A family not held
        whose ``newer`` starts at its first event (a family registered in the page) is
        ``newer``: nothing of it to read from the store."""
        with self._lock:
            held = self._streams.get(family_id)
            if held is None:
                if not newer or newer[0].event.originator_version != 1:
                    return None
                held, last = [], 0  # the gap check below sees to the rest of ``newer``
            else:
                last = held[-1].event.originator_version
            newer = [c for c in newer if c.event.originator_version > last]
            if any(c.event.originator_version != last + i for i, c in enumerate(newer, start=1)):
                return None
            if held:
                self._streams.move_to_end(family_id)
            if not newer:
                return held
        stream = held + newer
        self.put(family_id, stream)
        return stream

    def put(self, family_id: UUID, stream: list[Change]) -> None:
        """Hold a family's whole stream (it must start at version 1 and have no gap)."""
        if not stream or len(stream) > self.limit or stream[-1].event.originator_version != len(stream):
            self.forget(family_id)
            return
        with self._lock:
            old = self._streams.pop(family_id, None)
            self.held += len(stream) - (len(old) if old is not None else 0)
            self._streams[family_id] = stream
            while self.held > self.limit:
                _, dropped = self._streams.popitem(last=False)
                self.held -= len(dropped)

    def forget(self, family_id: UUID) -> None:
        with self._lock:
            old = self._streams.pop(family_id, None)
            if old is not None:
                self.held -= len(old)


class Projector:
    """Keeps the read models of one ledger database current."""

    def __init__(self, ledger: Ledger, models: Sequence[ReadModel] | None = None, page: int = PAGE, *,
                 create: bool = True) -> None:
        """``create``: make any missing read model tables and tracking rows (a rebuild's
        worker processes, which write only fresh tables, do not)."""
        self.ledger = ledger
        self.models = list(models) if models is not None else default_models()
        self.page = page
        self.store = ViewStore(ledger.recorder.datastore, postgres=ledger.settings.is_postgres)
        self.sealer = Sealer(getattr(ledger, "keys", None),
                             {table: columns for model in self.models for table, columns in model.sealed.items()})
        self.sealer.index_key = ledger.settings.blind_index_key()
        self._lock = threading.Lock()
        self.streams = StreamCache()
        self.last_read: int | None = None
        """The position of the last row ``read`` read (a family's event or not): the
        page's end, to which the positions advance."""
        self.reached = 0
        """A position every read model is known to have reached (pages this projector
        committed); positions never go back, so a command at or below it needs no catch-up."""

        if create:
            self.ensure_tables()

    # -- set-up ---------------------------------------------------------------------------

    def ensure_tables(self) -> None:
        """Create each read model's tables (if it has none yet) and its tracking row; a
        model whose tables were made for another version of it (or lack one) has them
        made afresh at position 0, so the next catch-up fills them from the log."""
        self.store.create(QUARANTINE, QUARANTINE_DDL)
        self.store.create(FORMATS, FORMATS_DDL)
        self.store.ensure_positions(m.name for m in self.models)
        formats = {FORMATS: self.store.table(FORMATS)}
        for model in self.models:
            tables = {**self.store.tables(model.tables), "ix": ""}
            if not self.store.existing(model.tables[0]):
                self.store.create(model.tables[0], model.ddl(), tables)  # made for this version
                with self.store.transaction(formats) as tx:
                    self.store.set_format(tx, model.name, model.version)
                continue
            with self.store.transaction(formats, commit=False) as tx:
                current = self.store.format_of(tx, model.name)
            if current == model.version and all(self.store.existing(t) for t in model.tables):
                continue
            with self.store.transaction({**tables, **formats}) as tx:
                self.store.lock_positions(tx, [model.name])
                if self.store.format_of(tx, model.name) == model.version:
                    continue  # another process starting at the same moment did it
                log.warning("read model %s: its tables were made for version %s, not %s; made afresh and "
                            "filled again from the log", model.name, current, model.version)
                self.store.drop(tx, model.tables)
                for statement in model.ddl():
                    tx.run(statement)
                self.store.set_position(tx, model.name, 0)
                self.store.set_format(tx, model.name, model.version)

    def model(self, name: str) -> ReadModel:
        found = next((m for m in self.models if m.name == name), None)
        if found is None:
            raise KeyError(f"no read model {name!r}; there are {', '.join(m.name for m in self.models)}")
        return found

    def context(self, tx: Tx, page: Sequence[Change] = ()) -> Context:
        """What the models may consult in ``tx``. A family's stream is read and decoded
        once per transaction, however many models ask for it (deadlines and episodes
        both re-derive a family from its whole stream), and not at all when the stream
        cache holds it: ``page``, the changes being applied, then extend the held one."""
        streams: dict[UUID, list[Any]] = {}
        newer: dict[UUID, list[Change]] = {}
        for change in page:
            newer.setdefault(change.event.originator_id, []).append(change)
        # A model sees a family as it stood at the page's last event, never later: the
        # store may already hold newer events (recorded since the page was read), which
        # the next page brings; rows reflect exactly the positions applied.
        upto = max((c.position for c in page), default=None)

        def family_events(family_id: UUID) -> list[Any]:
            if family_id not in streams:
                stream = self.streams.extended(family_id, newer.get(family_id, ()))
                if stream is None:
                    stream = self.family_changes(tx, family_id)
                    self.streams.put(family_id, stream)
                streams[family_id] = [c.event for c in stream if upto is None or c.position <= upto]
            return streams[family_id]

        return Context(packs=self.ledger.packs, family_events=family_events, sealer=self.sealer)

    def families(self, upto: int) -> list[tuple[UUID, int]]:
        """Every family with events at or below a position, with how many, in the order of
        their first event (a rebuild walks the log family by family)."""
        table = self.ledger.recorder.events_table_name
        position = self._position_column()
        with self.store.transaction({}, commit=False) as tx:
            register: Any = REGISTER_ID if self.store.postgres else REGISTER_ID.hex
            rows = tx.rows(f"SELECT originator_id, COUNT(*) AS n, MIN({position}) AS first "
                           f"FROM {self.store.table(table)} WHERE {position} <= ? AND originator_id <> ? "
                           "GROUP BY originator_id ORDER BY first", (upto, register))
        return [(r["originator_id"] if isinstance(r["originator_id"], UUID) else UUID(r["originator_id"]), r["n"])
                for r in rows]

    def changes_of(self, tx: Tx, family_ids: Sequence[UUID], upto: int | None = None,
                   failed: list[Unprocessable] | None = None) -> dict[UUID, list[Change]]:
        """Several families' events with their positions, each family's in version order,
        read in one query through the projector's transaction (and their keys in another).
        ``failed``: events that do not decode are listed there and left out (else raised)."""
        found: dict[UUID, list[Change]] = {fid: [] for fid in family_ids}
        if not family_ids:
            return found
        keys_store = getattr(self.ledger, "keys", None)
        if keys_store is not None:
            keys_store.preload(family_ids)
        keys: list[Any] = list(family_ids) if self.store.postgres else [fid.hex for fid in family_ids]
        where, args = f"originator_id IN ({','.join('?' * len(keys))})", list(keys)
        for change in self._events(tx, where, args, upto, order="originator_id, originator_version", failed=failed):
            found[change.event.originator_id].append(change)
        return found

    def _events(self, tx: Tx, where: str, args: list[Any], upto: int | None, *, order: str,
                limit: int | None = None, failed: list[Unprocessable] | None = None) -> list[Change]:
        """The stored events matching ``where`` (and at or before position ``upto``), with
        their positions, decoded by the application's mapper. An event that does not
        decode is raised, or (with ``failed``) listed there and left out."""
        position = self._position_column()
        if upto is not None:
            where, args = f"{where} AND {position} <= ?", [*args, upto]
        rows = tx.rows(f"SELECT {position} AS notification_id, originator_id, originator_version, topic, state "
                       f"FROM {self.store.table(self.ledger.recorder.events_table_name)} WHERE {where} "
                       f"ORDER BY {order}" + (f" LIMIT {int(limit)}" if limit is not None else ""), args)
        to_event = self.ledger.mapper.to_domain_event
        found = []
        self.last_read = rows[-1]["notification_id"] if rows else None
        ids: dict[str, UUID] = {}  # SQLite's id text: one UUID a family (a page's rows are whole families)
        for r in rows:
            family = r["originator_id"]
            if not isinstance(family, UUID):
                family = ids.get(family) or ids.setdefault(family, uuid_of(family))
            try:
                state = r["state"] if isinstance(r["state"], bytes) else bytes(r["state"])
                event = to_event(StoredEvent(family, r["originator_version"], r["topic"], state))
                if isinstance(event, FamilyEvent):  # the hold register's events are no family's
                    found.append(Change(r["notification_id"], event))
            except Exception as e:  # whatever is wrong with the stored row
                if failed is None:
                    raise
                failed.append(Unprocessable("*", family, r["notification_id"], None, r["topic"].rsplit(":", 1)[-1],
                                            f"the stored event (version {r['originator_version']}) does not decode: "
                                            f"{type(e).__name__}: {e}"))
        return found

    def _position_column(self) -> str:
        return "notification_id" if self.store.postgres else "rowid"  # the library's names

    # -- following the log ----------------------------------------------------------------

    def read(self, tx: Tx, after: int, limit: int, stop: int | None = None,
             failed: list[Unprocessable] | None = None) -> list[Change]:
        """Up to ``limit`` events after a position (and at or before ``stop``), in the
        log's order, decoded, read through the page's own transaction: the log's rows as
        the library's ``select_notifications`` selects them, without a connection and a
        transaction of their own (which, with a separate read of the positions, cost a
        command's inline catch-up two more transactions: PostgreSQL 3.6 → 3.0 ms of CPU)."""
        position = self._position_column()
        return self._events(tx, f"{position} > ?", [after], stop, order=position, limit=limit, failed=failed)

    def catch_up(self, *, until: int | None = None, on_page: Callable[[int, int], None] | None = None,
                 covering: int | None = None) -> int:
        """Apply every event not yet applied (up to ``until``); how many were applied.

        ``covering``: the caller needs only this position applied (a command just
        recorded). If this projector has already committed a page reaching it (another
        thread's catch-up, while this one waited for the lock), there is nothing to do."""
        total = conflicts = 0
        with self._lock:
            while True:
                if covering is not None and covering <= self.reached:
                    return total
                if covering is None and self._nothing_new(until):
                    return total
                try:
                    applied, last = self._one_page(until)
                except IntegrityError:
                    conflicts += 1
                    if conflicts > 5:
                        raise
                    log.info("another projector advanced first; reading the positions again")
                    continue
                if not applied:
                    return total
                total += applied
                if on_page is not None:
                    on_page(applied, last)

    def _nothing_new(self, until: int | None) -> bool:
        """Whether every read model has already reached the log's end (or ``until``): two
        reads, no write lock, so a worker polling an idle ledger writes nothing."""
        start = min(self.store.positions([m.name for m in self.models]).values())
        end = until if until is not None else (self.ledger.recorder.max_notification_id() or 0)
        if start < end:
            return False
        if until is None:
            self.reached = max(self.reached, start)  # every model is at the log's end
        return True

    def _one_page(self, until: int | None) -> tuple[int, int]:
        """One page in one transaction: the positions locked, the events after the
        lowest read, each model given what is still new to it, the positions advanced."""
        applied = 0
        with self.store.transaction(self._page_tables()) as tx:
            positions = self.store.lock_positions(tx, [m.name for m in self.models])
            start = min(positions.values())
            failed: list[Unprocessable] = []
            changes = self.read(tx, start, self.page, stop=until, failed=failed)
            last = self.last_read if self.last_read is not None else start
            if changes or failed:
                self._quarantine(tx, [f for f in failed if f.position is not None and f.position > start])
                applied = self._apply_page(tx, positions, changes, last)
        if changes or until is None:
            self.reached = max(self.reached, last)  # committed: every model is there
        return applied, last

    def _page_tables(self) -> dict[str, str]:
        tables: dict[str, str] = {}
        for model in self.models:
            tables.update(self.store.tables(model.tables))
        tables.update(self.store.quarantine_table())
        return tables

    def _apply_page(self, tx: Tx, positions: dict[str, int], changes: Sequence[Change], last: int) -> int:
        """Each model given what in ``changes`` is still new to it (a family quarantined
        for it passed over), and the positions advanced to ``last``; how many applied."""
        context = self.context(tx, changes)
        held = self.store.quarantined(tx)
        shares = [(model, [c for c in changes if c.position > positions[model.name]],
                   held.get(model.name, set()) | held.get("*", set())) for model in self.models]
        try:  # one savepoint for the page, its writes pipelined; family by family only if it fails
            with tx.savepoint("ledger_page"), tx.pipelined():
                for model, mine, skip in shares:
                    todo = [c for c in mine if c.event.originator_id.hex not in skip]
                    if todo:
                        self._apply(tx, model, todo, context)
        except Exception:  # noqa: BLE001 - apply_isolated finds which family, and why
            self.undo({c.event.originator_id for c in changes})
            context = self.context(tx, changes)
            for model, mine, skip in shares:
                if mine:
                    self.apply_isolated(tx, model, mine, context, skip)
        self.store.advance(tx, [m.name for m in self.models if positions[m.name] < last], last)
        return max([0, *(len(mine) for _, mine, _ in shares)])

    def undo(self, family_ids: Iterable[UUID]) -> None:
        """Drop what the models and the stream cache hold in memory of these families:
        what was applied to them is being rolled back."""
        for family_id in family_ids:
            for model in self.models:
                model.discard(family_id)
            self.streams.forget(family_id)

    # -- a command's own transaction (inline mode, ADR 0040) --------------------------------

    def within(self, cursor: Any, positions: Sequence[int], events: Sequence[FamilyEvent]) -> bool:
        """Apply a command's events, just inserted at ``positions`` through ``cursor``, to
        every read model in the command's own transaction, as given (not read back and
        decoded again); whether it did. It does not (and the command's catch-up after
        the commit does it as before) when another thread of this process is catching
        up, when the read models are not all at the position just before the events, or
        when anything here fails: its savepoint is rolled back and the command goes on."""
        if not positions or list(positions) != list(range(positions[0], positions[0] + len(positions))):
            return False
        if not self._lock.acquire(blocking=False):
            return False
        try:
            tx = Tx(self.store, cursor, self._page_tables())
            changes = [Change(p, e) for p, e in zip(positions, events, strict=True)]
            with tx.savepoint("ledger_inline"):
                at = self.store.lock_positions(tx, [m.name for m in self.models])
                if set(at.values()) != {positions[0] - 1}:
                    return False
                self._apply_page(tx, at, changes, positions[-1])
            return True
        except Exception:  # the catch-up after the commit applies them
            log.warning("a command's events could not be projected in its transaction: caught up after it",
                        exc_info=True)
            self.undo({e.originator_id for e in events})
            return False
        finally:
            self._lock.release()

    def recorded(self, position: int, projected: bool) -> None:
        """After a command has committed (inline mode): the read models are at its
        position if ``within`` applied it in the command's transaction, else caught up
        to it now."""
        if not projected:
            self.catch_up(covering=position)
            return
        with self._lock:
            self.reached = max(self.reached, position)

    def apply_isolated(self, tx: Tx, model: ReadModel, changes: Sequence[Change], context: Context,
                       held: set[str] | frozenset[str] = frozenset(), *, record: bool = True) -> list[Unprocessable]:
        """Apply ``changes`` to ``model`` in ``tx`` so that one family's failure stops no
        other: the families ``held`` (quarantined) are passed over; if the batch fails, it
        is undone and applied family by family, and a family that fails again is
        quarantined for this model (``record``: in the quarantine table now; a rebuild
        records its own at the swap), its rows as they were before. What was quarantined."""
        todo = [c for c in changes if c.event.originator_id.hex not in held] if held else changes
        if not todo:
            return []
        try:
            with tx.savepoint():
                self._apply(tx, model, todo, context)
            return []
        except Exception:  # which family, and why, is worked out below
            log.warning("read model %s could not apply a batch of %d events: applying family by family",
                        model.name, len(todo), exc_info=True)
        families: dict[UUID, list[Change]] = {}
        for change in todo:
            families.setdefault(change.event.originator_id, []).append(change)
        for family_id in families:  # the failed attempt may have carried some of them forward
            model.discard(family_id)
            self.streams.forget(family_id)
        found = []
        for family_id, part in families.items():
            try:
                with tx.savepoint():
                    self._apply(tx, model, part, context)
            except Exception as e:  # noqa: BLE001
                model.discard(family_id)
                self.streams.forget(family_id)
                first = part[0]
                found.append(Unprocessable(model.name, family_id, first.position, first.event.event_id.hex,
                                           first.event.type, f"{type(e).__name__}: {e}"))
        if record:
            self._quarantine(tx, found)
        return found

    def _apply(self, tx: Tx, model: ReadModel, changes: Sequence[Change], context: Context) -> None:
        model.apply(tx, changes, context)
        if context.rebuilding:
            # A rebuild's page holds each family whole, decoded with its key as the store
            # holds it now (read afresh, ``replay.rebuild.apply_page``): an erased family's
            # rows are already what deriving them again would give. Derived again here, each
            # one's delete scanned fresh tables not yet indexed by family (ADR 0054).
            return
        for erased in {c.event.originator_id for c in changes if c.event.type == ERASURE}:
            self.reproject(tx, model, erased, context)

    def _quarantine(self, tx: Tx, found: Sequence[Unprocessable], models: Sequence[str] | None = None) -> None:
        from ledger.clock import stamp

        for item in found:
            log.error("family %s quarantined for %s at position %s (%s): %s", item.family_id, item.model,
                      item.position, item.event_type, item.error)
            names = (models or [m.name for m in self.models]) if item.model == "*" else [item.model]
            for name in names:
                self.store.quarantine(tx, name, item.family_id.hex, position=item.position, event_id=item.event_id,
                                      event_type=item.event_type, error=item.error, at=stamp(self.ledger.now))

    def retry_quarantined(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Apply every quarantined family again to its read model, up to the model's
        position (after the code, a pack or the data has been put right): the families
        that now apply are released; (released, still quarantined)."""
        released, still = [], []
        for row in self.store.quarantine_rows():
            if row["model"] not in {m.name for m in self.models}:
                continue
            model = self.model(row["model"])
            family_id = UUID(row["family_id"])
            tables = {**self.store.tables(model.tables), **self.store.quarantine_table()}
            with self._lock, self.store.transaction(tables) as tx:
                position = self.store.lock_positions(tx, [model.name])[model.name]
                try:
                    with tx.savepoint():
                        model.forget(tx, family_id)
                        self.streams.forget(family_id)
                        stream = self.changes_of(tx, [family_id], upto=position)[family_id]
                        if stream:
                            model.apply(tx, stream, self.context(tx))
                except Exception as e:  # noqa: BLE001
                    model.discard(family_id)
                    still.append({**row, "error": f"{type(e).__name__}: {e}"})
                    continue
                self.store.release(tx, model.name, family_id.hex)
                released.append(row)
        return released, still

    def reproject(self, tx: Tx, model: ReadModel, family_id: UUID, context: Context) -> None:
        """Derive one family's rows again from its events, as they read now: after an
        erasure, every name and free text in the read models becomes "[erased]" while
        types, times, actors and outcomes stay (ADR 0013)."""
        keys = getattr(self.ledger, "keys", None)
        if keys is not None:
            keys.forget_cached(family_id)  # the key may have been destroyed by another process
        model.forget(tx, family_id)
        # A fresh context, and the stream read again: the page's context and the stream
        # cache may hold the family's events as decoded before the key was forgotten.
        self.streams.forget(family_id)
        fresh = self.context(tx)
        model.apply(tx, self.family_changes(tx, family_id), fresh)

    def family_changes(self, tx: Tx, family_id: UUID) -> list[Change]:
        """A family's events with their positions, read through the projector's own
        transaction: no second connection is taken while the read models are locked, and
        the stream is the one that transaction sees."""
        return self.changes_of(tx, [family_id])[family_id]

    def reading(self, *names: str) -> Any:
        """A read-only transaction over some read models' tables."""
        tables: dict[str, str] = {}
        for name in names:
            tables.update(self.store.tables(self.model(name).tables))
        return self.store.transaction(tables, commit=False)

    def dump(self, names: Sequence[str] | None = None, suffix: str = "") -> dict[str, list[tuple[str, ...]]]:
        """Every row of the named read models' tables (all by default; ``suffix``: a
        rebuild's fresh tables), personal columns opened, as text, in a stable order: what
        two sets of tables hold can be compared although sealing never repeats itself."""
        tables: dict[str, list[tuple[str, ...]]] = {}
        with self.store.transaction(commit=False) as tx:
            for model in (self.model(n) for n in names) if names else self.models:
                for table in model.tables:
                    rows = tx.rows(f"SELECT * FROM {self.store.table(table + suffix)}")
                    if table in self.sealer.sealed:
                        rows = self.sealer.open_rows(table, rows)
                    tables[table] = sorted(tuple(str(v) for v in r.values()) for r in rows)
        return tables

    def positions(self) -> dict[str, int]:
        return self.store.positions([m.name for m in self.models])

    def wait_for(self, position: int, timeout: float = 5.0) -> None:
        """Block until every read model has processed ``position`` (read-your-writes)."""
        deadline = time.monotonic() + timeout
        for model in self.models:
            remaining = deadline - time.monotonic()
            try:
                self.store.wait(model.name, position, timeout=max(remaining, 0.01))
            except TimeoutError:
                raise ProjectionsBehind(position, self.store.position(model.name)) from None

    # -- the worker -------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event, *, idle: float = 0.2,
                    on_page: Callable[[int, int], None] | None = None) -> None:
        """Follow the log until ``stop`` is set: catch up, then wait for new events
        (PostgreSQL LISTEN/NOTIFY, or polling every ``idle`` seconds on SQLite)."""
        wake = self._listener()
        try:
            while not stop.is_set():
                if self.catch_up(on_page=on_page) == 0:
                    wake(idle)
        finally:
            close = getattr(wake, "close", None)
            if close is not None:
                close()

    def _listener(self) -> Callable[[float], None]:
        recorder = self.ledger.recorder
        channel = getattr(recorder, "channel_name", None)
        if not self.ledger.settings.is_postgres or channel is None:
            return lambda seconds: time.sleep(seconds)
        return _PostgresWake(self.ledger, channel)


class _PostgresWake:
    """Sleeps until the events table's NOTIFY channel fires (or a timeout)."""

    def __init__(self, ledger: Ledger, channel: str) -> None:
        import psycopg
        from psycopg import sql

        settings = ledger.settings
        self.conn = psycopg.connect(settings.database_url or "", password=settings.password(), autocommit=True)
        self.conn.execute(sql.SQL("LISTEN {0}").format(sql.Identifier(channel)))

    def __call__(self, seconds: float) -> None:
        for _ in self.conn.notifies(timeout=seconds, stop_after=1):
            break

    def close(self) -> None:
        self.conn.close()
