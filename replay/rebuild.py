"""Rebuild read models from position 0 into fresh tables, and swap them in when complete.

1. Drop any ``<table>__rebuild`` left by an interrupted run and create them afresh.
2. Read the whole notification log in large pages and apply it to the fresh tables (read
   models may defer per-family work to the end: ``ReadModel.finish``).
3. Swap, in one transaction that locks the models' tracking rows: catch the fresh tables
   up to the live position (or beyond), drop the live tables, rename the fresh ones, and
   set the position. The live tables are never written before this step, so a rebuild
   killed at any moment leaves them as they were, and the next run starts again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from projections.base import Context, ReadModel
from projections.projector import Projector

SUFFIX = "__rebuild"
PAGE = 2000
FINISH_CHUNK = 500


@dataclass(frozen=True)
class Rebuilt:
    models: tuple[str, ...]
    events: int
    position: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def rebuild(
    projector: Projector,
    names: Sequence[str] | None = None,
    *,
    page: int = PAGE,
    on_progress: Callable[[int, int], None] | None = None,
) -> Rebuilt:
    """Rebuild the named read models (all by default); ``on_progress(events, total)``."""
    models = [projector.model(n) for n in names] if names else list(projector.models)
    store = projector.store
    started = time.perf_counter()
    token = uuid.uuid4().hex[:8]
    fresh: dict[str, str] = {}
    for model in models:
        fresh.update(store.tables(model.tables, SUFFIX))
    with store.transaction({**fresh, "ix": f"_{token}"}) as tx:
        store.drop(tx, [t + SUFFIX for m in models for t in m.tables])
        for model in models:
            for statement in model.ddl():
                tx.run(statement)

    total = projector.ledger.recorder.max_notification_id() or 0
    position = events = 0
    context: Context | None = None
    pending: dict[str, object] = {}
    while position < total:
        changes = projector.read(position, page, stop=total)
        if not changes:
            break
        with store.transaction(fresh) as tx:
            context = projector.context(tx, rebuilding=True)
            context.pending = pending
            for model in models:
                model.apply(tx, changes, context)
        position = changes[-1].position
        events += len(changes)
        if on_progress is not None:
            on_progress(events, total)
    _finish(projector, models, fresh, pending)
    position = _swap(projector, models, fresh, position)
    return Rebuilt(tuple(m.name for m in models), events, position, time.perf_counter() - started)


def _finish(projector: Projector, models: list[ReadModel], fresh: dict[str, str],
            pending: dict[str, object], chunk: int = FINISH_CHUNK) -> None:
    """Settle the models' deferred per-family work, a chunk of families at a time: each
    chunk's streams are read in one query and decoded once for every model that deferred
    work on them (deadlines and episodes both re-derive a family from its stream)."""
    deferred = {name: set(families) for name, families in pending.items()  # type: ignore[call-overload]
                if isinstance(families, (set, frozenset))}
    everyone = sorted(set().union(*deferred.values()) if deferred else set(), key=str)
    store = projector.store
    for start in range(0, len(everyone), chunk):
        part = everyone[start:start + chunk]
        with store.transaction(fresh) as tx:
            streams = projector.streams(tx, part)
            context = projector.context(tx, rebuilding=True)
            context.family_events = lambda family_id: streams[family_id]
            context.pending = {name: families.intersection(part) for name, families in deferred.items()}
            for model in models:
                model.finish(tx, context)
    with store.transaction(fresh) as tx:  # models with no per-family work still get their hook
        context = projector.context(tx, rebuilding=True)
        context.pending = {name: value for name, value in pending.items() if name not in deferred}
        for model in models:
            model.finish(tx, context)


def _swap(projector: Projector, models: list[ReadModel], fresh: dict[str, str], position: int) -> int:
    """Catch the fresh tables up to the live position and swap them in; the position."""
    store = projector.store
    names = [m.name for m in models]
    for _ in range(20):
        # Read what the fresh tables lack before taking the lock (no second connection
        # is wanted while it is held); if the live models moved on meanwhile, read again.
        target = max([position, *(store.position(n) for n in names)])
        delta = projector.read(position, target - position, stop=target) if target > position else []
        with store.transaction(fresh) as tx:
            live = store.lock_positions(tx, names)
            if max(live.values()) > target:
                continue
            if delta:
                context = projector.context(tx)
                for model in models:
                    model.apply(tx, delta, context)
            for model in models:
                for table in model.tables:
                    store.drop(tx, [table])
                    store.rename(tx, table + SUFFIX, table)
                store.set_position(tx, model.name, target)
            return target
    raise RuntimeError("the live read models kept moving; stop the projection worker and retry")
