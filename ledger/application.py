"""The ledger's one ``eventsourcing`` Application: registers families, records commands.

Everything that changes the record goes through ``Ledger.register_family`` or
``Ledger.record``. Both check the command against the family and its policy pack before
anything is stored, write the events and any idempotency key in one transaction, and
answer with the new version and the event's position in the global order.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Protocol, cast
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application, Repository
from eventsourcing.domain import MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError, InterfaceError, Mapper, OperationalError, Transcoder
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.utils import get_topic

from aggregates.errors import (
    IdempotencyMismatch,
    InvalidCommand,
    LedgerError,
    NotAuthorised,
    NotFound,
    RuleBroken,
    VersionConflict,
)
from aggregates.events import MEMBER_DETAILS_FIELDS, FamilyEvent, FamilyRegistered, MemberAdded, payload_fields
from aggregates.family import Family
from aggregates.vocabulary import ERASURE_REASONS, WRITING_ROLES
from ledger import deadlines as deadline_engine
from ledger.access_log import AccessLog
from ledger.calendar import london_date
from ledger.clock import utc_now
from ledger.commands import EARLIEST_MOMENT, LATEST_MOMENT, corrected_command  # noqa: F401
from ledger.keys import KeyStore, MasterKey, load_keyring
from ledger.legal_holds import LegalHolds
from ledger.notify import Arrivals
from ledger.policies.loader import load_packs, shipped_packs
from ledger.policies.schema import Pack
from ledger.retention import retain_until
from ledger.sealing import SealingMapper
from ledger.serialisation import OrjsonTranscoder
from ledger.settings import Settings, get_settings
from ledger.sql import Database
from ledger.staff import Person, Staff
from ledger.storage import (
    IdempotencyRecord,
    LedgerRepository,
    PostgresLedgerFactory,
    PostgresLedgerRecorder,
    SQLiteLedgerFactory,
    SQLiteLedgerRecorder,
    checkpoint,
    environment,
)
from ledger.teams import Teams

log = logging.getLogger("ledger")
EARLIEST_OCCURRENCE = EARLIEST_MOMENT
MAX_CONFLICT_RETRIES = 8


@dataclass(frozen=True)
class Recorded:
    """What a successful command answers: the event, the family's new version, and the
    event's position in the global order (the feed's cursor)."""

    event_id: UUID
    family_id: UUID
    version: int
    position: int
    replayed: bool = False
    members: tuple[dict[str, Any], ...] = ()
    projected: bool = False
    """Whether the read models took the events in the command's own transaction
    (``Ledger.inline``); if not, a listener catches them up after it."""


class InlineProjection(Protocol):
    """What projects a command's events in its own transaction (``Projector.within``)."""

    def within(self, cursor: Any, positions: Sequence[int], events: Sequence[FamilyEvent]) -> bool: ...

    def undo(self, family_ids: Iterable[UUID]) -> None: ...


@dataclass(frozen=True)
class Idempotency:
    key: str
    request_hash: str


class Ledger(Application[UUID]):
    """The case ledger application (one per process; thread-safe)."""

    name = "Ledger"
    snapshotting_intervals: ClassVar[dict[type, int]] = {Family: 100}
    # The library types this as its abstract recorder; this application's is always one
    # of ledger/storage.py (environment()), with a datastore, table names and its queries.
    recorder: SQLiteLedgerRecorder | PostgresLedgerRecorder

    def __init__(
        self,
        settings: Settings | None = None,
        packs: dict[str, Pack] | None = None,
        clock: Callable[[], datetime] | None = None,
        new_id: Callable[[], UUID] | None = None,
        only_writer: bool = False,
    ) -> None:
        """``clock`` and ``new_id`` replace real time and random ids (tests, the demo
        loader); ``only_writer`` says this process is the database's only writer while it
        runs (the demo loader): families read from the aggregate cache are then changed in
        place instead of copied first, since no other process can have moved them on."""
        self.settings = settings or get_settings()
        self.clock = clock or utc_now
        """The application's one clock (``ledger/clock.py``): every event's ``recorded_at``,
        "now" for the deadlines, the access log and the holds, "today" for a date of
        birth. Real time, except where the demo loader or a test gives it another."""
        self.new_id = new_id or uuid4
        """Where family, member and event ids come from (seeded by the demo loader)."""
        if packs is None:
            packs = load_packs(self.settings.policy_dir) if self.settings.policy_dir else shipped_packs()
        self.packs = packs
        self.snapshotting_intervals = {Family: self.settings.snapshot_interval}  # type: ignore[misc]
        # Writers to one family in this process queue here instead of racing to a
        # conflict; conflicts with other processes are retried with jittered backoff.
        self._write_locks = [threading.Lock() for _ in range(64)]
        self._writers, self._writers_lock = 0, threading.Lock()
        """Commands in progress in this process (``_writing``): ``inline`` is used by a
        command alone only."""
        self._read_erased: set[UUID] = set()
        self._walks = deadline_engine.Progresses(limit=256)
        """Where the deadline engine's walk of each recently read family got to, by its
        latest version: a family's deadlines read again with nothing new recorded decode
        and walk none of its events (``deadlines``); a newer event makes it walk again."""
        """Erased families decoded again after erasure by this process (``family``)."""
        self.listeners: list[Callable[[Recorded], object]] = []  # what a listener returns is ignored
        """Called after each command is stored, outside the family's write lock (the
        projector registers here to keep the read models current in this process)."""
        self.inline: InlineProjection | None = None
        """Inline mode (``api/app.py``): the read models, given each command's events in
        the command's own transaction, so a command is one write transaction (ADR 0040)."""
        env = environment(self.settings)
        if only_writer and self.settings.family_cache:
            env["DEEPCOPY_FROM_AGGREGATE_CACHE"] = "n"
        super().__init__(env=env)
        self.recorder.chain_key = self.settings.hash_chain_key()
        self.arrivals = Arrivals.of(self)
        """Wakes the feed's waiting readers when events are recorded (``ledger/notify.py``)."""
        self.holds = LegalHolds(self)
        self.teams = Teams(Database.of(self), clock=self.now)
        self.staff = Staff(Database.of(self), clock=self.now)
        """The staff directory: names and job titles of users (``ledger/staff.py``)."""
        self.access_log = AccessLog(Database.of(self), clock=self.now, key=self.settings.hash_chain_key())
        """Every read of the record (``ledger/access_log.py``)."""
        self._index_members()

    def now(self) -> datetime:
        """The application's "now": its clock."""
        return self.clock()

    def describe(self, user_id: str | None, name: str | None = None, job_title: str | None = None) -> Person:
        """Who ``user_id`` is as a person reads it ("Sam Jones, Family Support Worker"): the
        name given (an event's envelope), else the staff directory's, else the id marked
        unknown (``ledger/staff.py``)."""
        return self.staff.describe(user_id, name, job_title)

    @property
    def _datastore(self) -> SQLiteDatastore | PostgresDatastore:
        # The library types the factory as its abstract one, which has no datastore; this
        # application's (SQLite or PostgreSQL, ledger/storage.py) always has one.
        return cast("SQLiteLedgerFactory | PostgresLedgerFactory", self.factory).datastore

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    def construct_repository(self) -> Repository[UUID]:
        """The library's repository, with snapshots it cannot use passed over (ADR 0015)."""
        base = super().construct_repository()
        cache = base.cache  # None (no cache), an LRUCache, or an unbounded Cache (maxsize 0 to the library)
        return LedgerRepository(event_store=base.event_store, snapshot_store=base.snapshot_store,
                                cache_maxsize=None if cache is None else getattr(cache, "maxsize", 0),
                                fastforward=base.fastforward, fastforward_skipping=base.fastforward_skipping,
                                deepcopy_from_cache=base.deepcopy_from_cache)

    def construct_mapper(self) -> Mapper[UUID]:
        """The library's mapper, sealing personal fields with each family's key (ADR 0013)."""
        def keyring() -> list[MasterKey]:
            return load_keyring(self.settings.master_keys, self.settings.data_dir)

        self.keys = KeyStore(Database(self._datastore, postgres=self.settings.is_postgres), keyring(),
                             reload=keyring, clock=self.now)
        return SealingMapper(self.construct_transcoder(), self.keys)

    # -- commands ---------------------------------------------------------------------

    def register_family(
        self,
        *,
        policy: str,
        team: str,
        members: list[dict[str, Any]],
        actor: dict[str, str],
        occurred_at: datetime | None = None,
        idempotency: Idempotency | None = None,
        not_duplicate_of: list[UUID] | None = None,
    ) -> Recorded:
        """Register a new family. Its Idempotency-Key is looked up only if it is not
        recorded (as a command's, ``_record_once``): a retry collides on the key as it saves."""
        self._check_writer(actor)
        try:
            self.may_register(policy=policy, team=team, actor=actor)
            pack = self.pack(policy)
            for i, checked in enumerate(not_duplicate_of or ()):
                if not self._on_record(checked):
                    raise InvalidCommand(f"not_duplicate_of.{i}: no family {checked} is on the record",
                                         field=f"not_duplicate_of.{i}")
            # A detail not given (None) is left out of the stored member: most have none.
            members = [{**{k: v for k, v in m.items() if v is not None or k not in MEMBER_DETAILS_FIELDS},
                        "member_id": m.get("member_id") or self.new_id()} for m in members]
            family = Family.register(
                family_id=self.new_id(),
                envelope=self._envelope(pack, actor, occurred_at, about=[], context={}),
                team=team,
                members=members,
                not_duplicate_of=not_duplicate_of,
            )
            store_key = self.keys.new_family_key(family.id)  # stored with the events, in their transaction
            try:
                with self._writing():
                    recorded = self._save(family, actor, idempotency, family_key=store_key)
            except BaseException:
                self.keys.forget(family.id)
                raise
        except LedgerError:
            found = self._idempotent(actor, idempotency)
            if found is not None:
                return self._replayed(found, actor)
            raise
        self._announce(recorded)
        return Recorded(**{**recorded.__dict__, "members": tuple(members)})

    def may_register(self, *, policy: str, team: str, actor: dict[str, str]) -> None:
        """Whether ``actor`` may register a family for ``team`` under ``policy`` at all,
        refused as ``register_family`` would: asked before anything is looked up for the
        registration (possible duplicates are no business of someone who may not make it)."""
        self._check_writer(actor)
        self.pack(policy)
        Family.check_registrar(team, actor)
        self.teams.require(team, "team")

    def record(
        self,
        family_id: UUID,
        type_name: str,
        fields: dict[str, Any],
        *,
        actor: dict[str, str],
        occurred_at: datetime | None = None,
        about: list[UUID] | None = None,
        context: dict[str, Any] | None = None,
        expected_version: int | None = None,
        idempotency: Idempotency | None = None,
    ) -> Recorded:
        self._check_writer(actor)
        attempts = 1 if expected_version is not None else MAX_CONFLICT_RETRIES
        for attempt in range(attempts):
            if attempt:
                time.sleep(random.uniform(0, 0.005 * 2**attempt))  # another process won the race
            with self._writing(), self._write_locks[family_id.int % len(self._write_locks)]:
                recorded = self._record_once(
                    family_id, type_name, fields, actor, occurred_at, about, context,
                    expected_version, idempotency, last_attempt=attempt + 1 == attempts,
                )
            if recorded is not None:
                if not recorded.replayed:
                    self._announce(recorded)
                return recorded
        raise AssertionError("unreachable")  # pragma: no cover

    def erase(self, family_id: UUID, *, actor: dict[str, str], reason: str, legal_basis: str) -> Recorded:
        """Crypto-shred a family's personal data (ADR 0013): destroy its key, drop its
        snapshots and record ``PersonalDataErased`` with the deadline outcome frozen.

        Refused while a legal hold is in force, while an episode is open, and once done.
        The key goes first: the event needs no key, and a crash between the two is
        finished by asking again (the family then reads erased and has no erasure event)."""
        if actor.get("role") != "admin":
            raise NotAuthorised(f"only an admin erases a family's personal data, not a {actor.get('role')}")
        if reason not in ERASURE_REASONS:
            raise InvalidCommand(f"reason must be one of {', '.join(ERASURE_REASONS)}", field="reason")
        with self._write_locks[family_id.int % len(self._write_locks)]:
            hold = self.holds.holding(family_id)
            if hold is not None:
                where = "every family" if hold["all_families"] else "this family"
                raise RuleBroken(f"a legal hold on {where} is in force since {hold['placed_at'][:10]} "
                                 f"({hold['reason']}): nothing may be erased until it is lifted")
            family = self.family(family_id)
            family._check_not_erased()
            episode = family.current_episode
            if episode is not None and episode["status"] == "open":
                raise RuleBroken("the family has an open episode: close it before its personal data is erased")
            pack = self.pack(family.policy)
            if reason == "retention-period-passed":
                self._check_retention_passed(family, pack)
            envelope = self._envelope(pack, actor, None, about=[], context={})
            frozen = deadline_engine.freeze(
                deadline_engine.evaluate(self.family_events(family_id), pack, envelope["occurred_at"]))
            self.keys.destroy(family_id, by=actor["user_id"], reason=reason)
            self._drop_snapshots(family_id)
            self.forget_cached(family_id)
            up_to = self.recorder.position_of(family_id, family.version)
            family = self.family(family_id)  # read again: the names now read as erased
            family.erase(reason=reason, legal_basis=legal_basis, deadlines=frozen, envelope=envelope,
                         up_to_position=up_to)
            recorded = self._save(family, actor, None, project_inline=False)  # reprojected after the key is gone
        self._announce(recorded)
        if not self.settings.is_postgres:
            checkpoint(self._datastore)
        return recorded

    def _check_retention_passed(self, family: Family, pack: Pack) -> None:
        """An erasure said to be for retention is refused unless the family's retention
        period under its pack has passed (as ``GET /retention/due`` lists it)."""
        closed = [e["closed_at"] for e in family.episodes if e["closed_at"] is not None]
        born = [m["date_of_birth"] for m in family.children().values() if m.get("date_of_birth")]
        episode = family.current_episode
        until = retain_until(pack.retention, open_episode=episode is not None and episode["status"] == "open",
                             closed_on=london_date(max(closed)) if closed else None,
                             youngest_born=max(born) if born else None)
        today = london_date(self.now())
        if until is None:
            raise RuleBroken(f"the {pack.id} pack gives no retention period this family has reached: erase it "
                             "as an erasure-request or recorded-in-error, with its legal basis, if it must go")
        if until > today:
            raise RuleBroken(f"the family's retention period under the {pack.id} pack runs until "
                             f"{until:%d %B %Y}: it is not due for erasure (GET /retention/due lists those that are)")

    def _drop_snapshots(self, family_id: UUID) -> None:
        """Snapshots hold names sealed whole: once the key is gone they are dropped."""
        if self.snapshots is None:
            return
        db = Database.of(self)
        table = db.table(self.snapshots.recorder.events_table_name)  # type: ignore[attr-defined]
        key: Any = family_id if self.settings.is_postgres else family_id.hex
        with db.transaction() as tx:
            tx.run(f"DELETE FROM {table} WHERE originator_id = ?", (key,))

    def _notify(self, recordings: list[Any]) -> None:
        """The library's hook once events are stored (committed), whatever recorded them
        (commands, erasure, the hold register): the feed's waiters in this process read again."""
        self.arrivals.signal()

    def _announce(self, recorded: Recorded) -> None:
        """Tell the listeners; a failing listener never fails a recorded command."""
        for listener in self.listeners:
            try:
                listener(recorded)
            except Exception:
                log.exception("listener %r failed after position %s", listener, recorded.position)

    def _record_once(
        self, family_id: UUID, type_name: str, fields: dict[str, Any], actor: dict[str, str],
        occurred_at: datetime | None, about: list[UUID] | None, context: dict[str, Any] | None,
        expected_version: int | None, idempotency: Idempotency | None, *, last_attempt: bool,
    ) -> Recorded | None:
        """Load the family, check and save, once each; None if another writer got there
        first (the caller retries).

        This is the command's one authorisation point: the family is loaded once and its
        team is checked once, by the aggregate's own rule as it records (a transfer moves
        it; the access table has let only team roles through).

        The Idempotency-Key is looked up only if the command is not recorded: a retry
        whose first attempt was stored either fails a check against the family as it is
        now, or is refused by the key's primary key as it saves (``_save``), and either
        way finds the key here and answers the first result (or, for another body, is
        refused). A new key, the common case, costs no lookup of its own."""
        try:
            return self._check_and_save(family_id, type_name, fields, actor, occurred_at, about, context,
                                        expected_version, idempotency)
        except LedgerError as error:
            found = self._idempotent(actor, idempotency)  # under the lock: a twin here has finished
            if found is not None:
                return self._replayed(found, actor)
            if isinstance(error, VersionConflict) and not last_attempt:
                return None
            raise

    def _check_and_save(
        self, family_id: UUID, type_name: str, fields: dict[str, Any], actor: dict[str, str],
        occurred_at: datetime | None, about: list[UUID] | None, context: dict[str, Any] | None,
        expected_version: int | None, idempotency: Idempotency | None,
    ) -> Recorded:
        family = self.family(family_id)
        if expected_version is not None and family.version != expected_version:
            raise VersionConflict(
                f"the family is at version {family.version}, not {expected_version}: "
                "read it again and retry"
            )
        pack = self.pack(family.policy)
        if type_name == "EntryCorrected":
            fields = {**fields, "changes": self._checked_changes(family, fields)}
        elif type_name == "TransferredOut" and isinstance(fields.get("to_team"), str):
            self.teams.require(fields["to_team"], "to_team")
        elif type_name == "MemberAdded" and isinstance(fields.get("member_id"), UUID):
            self._check_member_new(fields["member_id"], "member_id", family)
        envelope = self._envelope(pack, actor, occurred_at, about=about or [], context=context or {})
        family.record(type_name, fields, envelope, pack)
        if type_name == "FamiliesLinked":
            other = self._linkable(fields["linked_family_id"])
            other.link_back(family.id, fields["reason"], {
                **envelope, "event_id": self.new_id(), "policy": other.policy,
                "policy_version": self.pack(other.policy).version, "about": []})
            return self._save(family, actor, idempotency, also=other)
        return self._save(family, actor, idempotency)

    def _on_record(self, family_id: UUID) -> bool:
        return next(iter(self.events.get(family_id, limit=1)), None) is not None

    def _linkable(self, family_id: UUID) -> Family:
        """A family another is linked with: on the record and not erased (a link to an
        erased family could only say that something of it was once known)."""
        try:
            other = self.family(family_id)
        except NotFound:
            raise InvalidCommand(f"linked_family_id: no family {family_id} is on the record",
                                 field="linked_family_id") from None
        if getattr(other, "erased", None) is not None:
            raise InvalidCommand(f"linked_family_id: the personal data of family {family_id} was erased; it is "
                                 "not linked with another", field="linked_family_id")
        return other

    # -- queries ----------------------------------------------------------------------

    def pack(self, policy: str) -> Pack:
        try:
            return self.packs[policy]
        except KeyError:
            raise InvalidCommand(
                f"unknown policy pack {policy!r}; known packs: {', '.join(sorted(self.packs))}",
                field="policy",
            ) from None

    def family(self, family_id: UUID, *, copy: bool = True) -> Family:
        """The family as its events now say. From the aggregate cache where it is held
        (brought up to date first); ``copy=False`` for a caller that only reads it.

        A family erased since it was cached (here or by another process) holds names
        decoded before its key was destroyed: it is decoded again from its events, with
        the key read again from the store, so it reads erased as it does anywhere else."""
        try:
            found: MutableOrImmutableAggregate[UUID] = self.repository.get(family_id, deepcopy_from_cache=copy)
            if not isinstance(found, Family):  # the hold register, not a family
                raise AggregateNotFoundError(family_id)
            family = found
            if self._newly_erased(family_id, getattr(family, "erased", None) is not None):
                family = self.repository.get(family_id, deepcopy_from_cache=copy)
            return family
        except AggregateNotFoundError:
            raise NotFound(f"no family {family_id}") from None

    def forget_cached(self, family_id: UUID) -> None:
        """Decode the family from its events next time, with its key read from the store."""
        self.keys.forget_cached(family_id)
        self._walks.put(family_id, None)
        cache = self.repository.cache
        if cache is not None:
            with contextlib.suppress(KeyError):  # not held
                cache.get(family_id, evict=True)

    def family_events(self, family_id: UUID) -> list[FamilyEvent]:
        """The family's events, decoded. Erased (by any process) since this process last
        held its key: read again with the key read from the store, as ``family`` does."""
        found = list(self.events.get(family_id))
        if not found or not isinstance(found[0], FamilyEvent):
            raise NotFound(f"no family {family_id}")
        # A stream that starts with a family's event is a family's: all its events are.
        events = cast(list[FamilyEvent], found)
        if self._newly_erased(family_id, events[-1].type == "PersonalDataErased"):
            events = cast(list[FamilyEvent], list(self.events.get(family_id)))
        return events

    def _newly_erased(self, family_id: UUID, erased: bool) -> bool:
        """Whether this process meets the family's erasure for the first time: if so its
        cached family and key are dropped, and the caller reads the family again."""
        if not erased or family_id in self._read_erased:
            return False
        self.forget_cached(family_id)
        self._read_erased.add(family_id)
        return True

    def deadlines(
        self, family_id: UUID, *, as_of: datetime | None = None, known_at: datetime | None = None,
        remember: bool = True,
    ) -> dict[str, Any]:
        """Every rule instance of the family's pack, as of ``as_of`` (now by default),
        from what had been recorded by ``known_at`` (everything by default).
        ``remember=False``: hold no walk for the next read (a scan of every family)."""
        as_of = _aware(as_of or self.clock(), "as_of")
        if known_at is None and remember:
            return {"family_id": family_id, **self._deadlines_now(family_id, as_of)}
        events = self.family_events(family_id)
        pack = self.pack(events[0].policy)
        if known_at is not None:
            _aware(known_at, "known_at")
            events = [e for e in events if e.recorded_at <= known_at]
            if not events:
                raise NotFound(f"family {family_id} had not been recorded by {known_at.isoformat()}")
        return {"family_id": family_id, **deadline_engine.evaluate(events, pack, as_of, known_at=known_at)}

    def _deadlines_now(self, family_id: UUID, as_of: datetime) -> dict[str, Any]:
        """``deadlines`` from everything recorded: from the walk held for the family where
        its latest stored version is still the one walked (read from the store at every
        call, so never stale), else walked on over the newer events or from the start,
        and held for the next read (ADR 0037)."""
        held = self._walks.get(family_id)
        if held is not None and self.packs.get(held.pack.id) is held.pack:
            latest = self.recorder.select_events(family_id, desc=True, limit=1)
            if latest and (found := deadline_engine.evaluate_held(held, latest[0].originator_version, as_of)):
                return found
        events = self.family_events(family_id)
        pack = self.pack(events[0].policy)
        walked: tuple[dict[str, Any], deadline_engine.Progress | None] | None = None
        if held is not None and held.pack is pack:
            walked = deadline_engine.evaluate_on(held, events, as_of)
        result, onward = walked or deadline_engine.evaluate_from_start(events, pack, as_of)
        self._walks.put(family_id, onward)
        return result

    def family_ids(self) -> list[UUID]:
        """Every registered family, in the order they were registered."""
        topic = get_topic(FamilyRegistered)
        found: list[UUID] = []
        start = 1
        while True:
            page = self.recorder.select_notifications(start, 1000, topics=[topic])
            found.extend(UUID(str(n.originator_id)) for n in page)
            if len(page) < 1000:
                return found
            start = page[-1].id + 1

    def deadline_view(
        self,
        *,
        team: str | None = None,
        worker: str | None = None,
        states: set[str] | None = None,
        due_before: date | None = None,
        as_of: datetime | None = None,
        episodes: str = "open",
    ) -> list[dict[str, Any]]:
        """The clocks of every family with an open episode (``episodes`` "closed": with its
        latest episode closed, "any": both), for team and worker views, soonest due first.
        (Evaluated family by family; the deadlines read model of
        ``projections/`` replaces this scan where it is built.)"""
        as_of = _aware(as_of or self.clock(), "as_of")
        rows = []
        for family_id in self.family_ids():
            result = self.deadlines(family_id, as_of=as_of, remember=False)
            if episodes != "any" and result["episode_open"] != (episodes == "open"):
                continue
            if team is not None and result["team"] != team:
                continue
            if worker is not None and result["worker"] != worker:
                continue
            for order, row in enumerate(result["deadlines"]):
                if row["episode_id"] is None or row["episode_id"] != result["episode_id"]:
                    continue
                if states is not None and row["state"] not in states:
                    continue
                if due_before is not None and (row["due"] is None or _day(row["due"]) >= due_before):
                    continue
                rows.append(({"family_id": family_id, "team": result["team"], "worker": result["worker"],
                              "policy": result["policy"], **row}, order))
        # Soonest due first; ties by family and then the engine's own order (as the table does).
        rows.sort(key=lambda r: (r[0]["due_at"] is None, r[0]["due_at"] or as_of, r[0]["family_id"].hex, r[1]))
        return [row for row, _ in rows]

    # -- internals --------------------------------------------------------------------

    def _checked_changes(self, family: Family, fields: dict[str, Any]) -> dict[str, Any]:
        """A correction's changes, typed, once the corrected entry (the original with the
        changes applied) has passed the command model of its type (``corrected_command``)."""
        corrects, changes = fields.get("corrects"), fields.get("changes") or {}
        if not isinstance(corrects, UUID) or corrects.hex not in family.log or not isinstance(changes, dict):
            return changes  # the aggregate refuses it with the right message
        version = list(family.log).index(corrects.hex) + 1
        original = next(iter(self.events.get(family.id, gt=version - 1, lte=version)))
        typed = corrected_command(original, changes, fields.get("member"))  # type: ignore[arg-type]
        if isinstance(typed.get("occurred_at"), datetime):
            self._check_occurred_at(typed["occurred_at"], "changes.occurred_at")
        return typed

    def _check_member_new(self, member_id: UUID, field: str, family: Family | None = None) -> None:
        """A member id is one person's, on one family's record: a new member may not take
        the id of someone already on any family's record."""
        if family is not None and member_id.hex in family.members:
            raise InvalidCommand(f"member {member_id} already exists", field=field)
        if self.recorder.member_family(member_id) is not None:
            raise InvalidCommand(f"member id {member_id} is already someone's on another family's record: "
                                 "leave member_id out and the ledger gives the new member one", field=field)

    def _index_members(self) -> None:
        """Index the members of a ledger recorded before the member index existed."""
        recorder: Any = self.recorder
        if recorder.members_indexed() or not recorder.max_notification_id():
            return
        topics = [get_topic(FamilyRegistered), get_topic(MemberAdded)]
        found: list[tuple[str, str]] = []
        start = 1
        while True:
            page = recorder.select_notifications(start, 1000, topics=topics)
            for note in page:
                family = UUID(str(note.originator_id)).hex
                try:
                    state = self.mapper.transcoder.decode(note.state)
                    people = state.get("members") or [state]
                    found += [(UUID(str(p["member_id"])).hex, family) for p in people if "member_id" in p]
                except Exception:  # an unreadable event stops no start-up
                    log.exception("event at position %s does not decode: its members are not indexed", note.id)
            if len(page) < 1000:
                break
            start = page[-1].id + 1
        recorder.index_members(found)

    def _check_writer(self, actor: dict[str, str]) -> None:
        if actor.get("role") not in WRITING_ROLES:
            raise NotAuthorised(f"a {actor.get('role')} may read but not record")

    def _envelope(
        self,
        pack: Pack,
        actor: dict[str, str],
        occurred_at: datetime | None,
        *,
        about: list[UUID],
        context: dict[str, Any],
    ) -> dict[str, Any]:
        now = self.clock()
        if occurred_at is None:
            occurred_at = now
        self._check_occurred_at(occurred_at, "occurred_at")
        who = {"user_id": actor["user_id"], "role": actor["role"], "team": actor["team"]}
        # The person's name and title as their token gave them (ADR 0030): what was true
        # when recorded, so the entry names them so ever after. Events before had none.
        who.update({k: actor[k] for k in ("name", "job_title") if actor.get(k)})
        return {
            "event_id": self.new_id(),
            "occurred_at": occurred_at,
            "actor": who,
            "policy": pack.id,
            "policy_version": pack.version,
            "about": list(about),
            "context": {k: v for k, v in context.items() if v not in (None, "")},
            "timestamp": now,
        }

    def _check_occurred_at(self, occurred_at: datetime, field: str) -> None:
        """An entry happened at a moment with a timezone, from 1900 up to now (give or
        take the clock skew allowed): a command's ``occurred_at`` and a correction's."""
        if occurred_at.tzinfo is None:
            raise InvalidCommand(f"{field} must include a timezone offset", field=field)
        if occurred_at > self.clock() + timedelta(seconds=self.settings.clock_skew_seconds):
            raise InvalidCommand(f"{field} {occurred_at.isoformat()} is in the future", field=field)
        if occurred_at < EARLIEST_OCCURRENCE:
            raise InvalidCommand(f"{field} {occurred_at.isoformat()} is before {EARLIEST_OCCURRENCE.year}",
                                 field=field)

    def _save(self, family: Family, actor: dict[str, str], idempotency: Idempotency | None, *,
              project_inline: bool = True, also: Family | None = None,
              family_key: Callable[[Any], None] | None = None) -> Recorded:
        """Store the family's new events, with its idempotency row, member ids, hash rows,
        (``family_key``) a new family's key and (``inline``, ``project_inline``) the read
        models' rows, in one transaction; ``also``: another family's new events with them
        (the other side of a link)."""
        pending = family.pending_events[-1]
        record = None
        if idempotency is not None:
            record = IdempotencyRecord(
                key=idempotency.key, user_id=actor["user_id"], request_hash=idempotency.request_hash,
                family_id=family.id.hex, event_id=pending.event_id.hex, version=pending.originator_version,  # type: ignore[attr-defined]
            )
        members = [(m["member_id"].hex, family.id.hex) for e in family.pending_events
                   for m in (getattr(e, "members", None) or ([{"member_id": e.member_id}]  # type: ignore[attr-defined]
                                                             if e.type == "MemberAdded" else []))]  # type: ignore[attr-defined]
        try:
            recordings, projected = self._store(family, record, members, project_inline, also, family_key)
        except IntegrityError:
            raise VersionConflict(
                "the family changed while this command was being recorded: read it again and retry"
            ) from None
        except (OperationalError, InterfaceError):
            # The connection failed: the transaction may have committed before it did (the
            # acknowledgement lost). Answer what happened, not a guess (ADR 0020).
            found = self._committed(family.id, pending.originator_version, pending.event_id)  # type: ignore[attr-defined]
            if found is None:
                raise
            return found
        last = [r for r in recordings if r.domain_event.originator_id == family.id][-1]
        return Recorded(
            event_id=pending.event_id,  # type: ignore[attr-defined]
            family_id=family.id,
            version=last.domain_event.originator_version,
            position=last.notification.id,
            projected=projected,
        )

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        with self._writers_lock:
            self._writers += 1
        try:
            yield
        finally:
            with self._writers_lock:
                self._writers -= 1

    def _store(self, family: Family, record: IdempotencyRecord | None, members: list[tuple[str, str]],
               project_inline: bool, also: Family | None = None,
               family_key: Callable[[Any], None] | None = None) -> tuple[list[Any], bool]:
        """``save``, and whether the read models took the events in its transaction
        (``inline``: called by the recorder once the ledger's own rows are written). If
        the save fails after they did, what they hold in memory of the family is dropped:
        their rows were rolled back with the events.

        Only a command alone in this process does so: while others are in progress, the
        read models' work inside the transaction would hold the database's write lock
        (the events table's, on PostgreSQL) for every one of them, and the catch-up after
        the commits takes their events together, a page for many (measured at 16 clients:
        SQLite 80 against 100 commands/s, PostgreSQL 48 against 63, ADR 0040)."""
        inline = self.inline if project_inline and self._writers <= 1 else None
        families = [family] if also is None else [family, also]
        if inline is None:
            recordings = self.save(*families, idempotency=record, members=members, family_key=family_key)
            self._hold(families)
            return recordings, False
        events, projected = [e for f in families for e in f.pending_events], False
        ids = {f.id for f in families}

        def project(cursor: Any, positions: Sequence[int]) -> None:
            nonlocal projected
            if projected:  # the transaction is being tried again: the first one's rows are gone
                inline.undo(ids)
            projected = inline.within(cursor, positions, events)  # type: ignore[arg-type]

        try:
            recordings = self.save(*families, idempotency=record, members=members, family_key=family_key,
                                   project=project)
        except BaseException:
            if projected:
                inline.undo(ids)
            raise
        self._hold(families)
        return recordings, projected

    def _hold(self, families: Sequence[Family]) -> None:
        """Families just saved (committed), held in the aggregate cache as they now are:
        the next command's fast-forward then finds nothing new to decode, and a family
        registered here is not read back and folded for its first command. The library
        holds saved aggregates only without fast-forward; with it (another process may
        write), the next read still asks the database for anything newer, so this holds
        nothing a read could not have made. The caller does not use them after."""
        cache = self.repository.cache
        if cache is not None:
            for family in families:
                cache.put(family.id, family)

    def _committed(self, family_id: UUID, version: int, event_id: UUID) -> Recorded | None:
        """Whether an event whose save lost its connection was stored after all: asked of
        the database again, for up to LEDGER_DATABASE_TIMEOUT seconds while it is still
        unreachable. The Recorded it answers if it was; None if it was not or if that
        cannot yet be known (the caller answers 503, and a retry with the same
        Idempotency-Key finds the event if it was stored)."""
        deadline = time.monotonic() + self.settings.database_timeout
        while True:
            try:
                stored = list(self.events.get(family_id, gt=version - 1, lte=version))
                if not stored or stored[0].event_id != event_id:  # type: ignore[attr-defined]
                    return None
                position = self.recorder.position_of(family_id, version)
                assert position is not None  # the event was just read back: it has a position
                log.warning("the connection failed after family %s version %s was stored: answered as recorded",
                            family_id, version)
                return Recorded(event_id=event_id, family_id=family_id, version=version, position=position)
            except (OperationalError, InterfaceError):
                if time.monotonic() >= deadline:
                    return None
                time.sleep(0.2)

    def already_recorded(self, actor: dict[str, str], idempotency: Idempotency | None) -> bool:
        """Whether the request this Idempotency-Key came with was recorded already (a retry
        is answered what the first answer was, whatever has been recorded since)."""
        return self._idempotent(actor, idempotency) is not None

    def _idempotent(self, actor: dict[str, str], idempotency: Idempotency | None) -> IdempotencyRecord | None:
        """What this caller's Idempotency-Key recorded before, or None if the key is new
        (or none was sent). The same key with another request is refused."""
        if idempotency is None:
            return None
        found: IdempotencyRecord | None = self.recorder.find_idempotency(
            actor["user_id"], idempotency.key)
        if found is not None and found.request_hash != idempotency.request_hash:
            raise IdempotencyMismatch(
                "this Idempotency-Key was already used with a different request body"
            )
        return found

    def _replayed(self, found: IdempotencyRecord, actor: dict[str, str]) -> Recorded:
        """The first result of a retried command. The caller must still hold the family
        the key recorded on: a replay answers what the first answer carried (ids, version
        and, for a registration, the members as registered), never the family as it is
        now, and only to someone who may still write on it."""
        family_id = UUID(found.family_id)
        family = self.family(family_id, copy=False)
        if actor.get("team") != family.team:
            raise NotAuthorised(f"this Idempotency-Key recorded on a family now held by team {family.team}; "
                                f"a member of team {actor.get('team')} may not read or write it")
        position = self.recorder.position_of(family_id, found.version)
        assert position is not None  # the key's event is stored (events are never deleted)
        members: tuple[dict[str, Any], ...] = ()
        if found.version == 1:
            registration = next(iter(self.events.get(family_id, lte=1)))
            members = tuple(dict(m) for m in registration.members)  # type: ignore[attr-defined]
        return Recorded(
            event_id=UUID(found.event_id), family_id=family_id, version=found.version,
            position=position, replayed=True, members=members,
        )


def _day(value: date | datetime) -> date:
    return london_date(value) if isinstance(value, datetime) else value


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidCommand(f"{name} must include a timezone offset", field=name)
    return value


def event_view(event: FamilyEvent) -> dict[str, Any]:
    """An event with its envelope, as plain data (API, feed and exports). Its
    ``schema_version`` is its type's ``class_version``: the version of ``/schemas/{type}``
    that ``data`` follows (an older stored event has been upcast to it as it was read)."""
    return {
        "event_id": event.event_id,
        "type": event.type,
        "schema_version": type(event).class_version,
        "family_id": event.originator_id,
        "version": event.originator_version,
        "occurred_at": event.occurred_at,
        "recorded_at": event.recorded_at,
        "actor": event.actor,
        "policy": event.policy,
        "policy_version": event.policy_version,
        "about": event.about,
        "context": event.context,
        "data": {name: getattr(event, name) for name in payload_fields(type(event))},
    }

