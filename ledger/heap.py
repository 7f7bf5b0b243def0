"""What a long-running process (an API process, a projection worker) does with its heap
so that garbage collections do not stop it for long (ADRs 0048 and 0049).

A full collection walks every object the process holds and stops every request while
it does. Two kinds of object make most of them: what the process starts with and keeps
(modules, packs, the app and its routes), and what its caches hold (the deadline
engine's walk of up to 2,000 recently derived families, about 500 objects a family,
and the projector's stream cache of up to 20,000 decoded events). The first are
frozen out of collections at start. The second are replaced command by command, so
under CPython's default thresholds a process that has served for a while runs a full
collection about every thousand commands, each as long as the caches are large (about a
second on the 1,000-family demo set); ``python -m benchmarks.collections`` measures it.
The caches hold no reference cycles, and what a request leaves for the collector is
collected young, so the oldest generation is examined a hundred times less often.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ledger.calendar import bank_holidays

if TYPE_CHECKING:
    from ledger.application import Ledger

OLDEST_EVERY = 1_000
"""Middle-generation collections between two looks at the oldest generation (CPython's
default is 10; it then collects the oldest only once a quarter more objects have reached
it since the last time). About one command in 50 on families with a history, one in 500
on new ones, runs a middle-generation collection."""


@contextmanager
def settled(ledger: Ledger) -> Iterator[None]:
    """While the block runs: what the process holds now is left out of every collection
    (``gc.freeze``), and the oldest generation is examined ``OLDEST_EVERY`` middle
    collections apart. Loaded first: what a request would otherwise load on first use
    (the GB bank holidays, whose package builds its calendar classes then). Not collected
    first: no garbage was found there, and a collection of a test process's heap at every
    app's start made the test suite a quarter slower. Afterwards the thresholds are as
    they were and nothing is frozen, so a test process that starts and stops apps keeps
    nothing for good."""
    bank_holidays(ledger.now().year)
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(thresholds[0], thresholds[1], OLDEST_EVERY)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
