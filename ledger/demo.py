"""Synthetic demo data: families walked through their packs' pathways (issue 5).

``generate`` is implemented by the demo work; this module fixes its signature so the CLI
(``ledger demo``, ``ledger serve --demo``) can call it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ledger.application import Ledger


def generate(ledger: Ledger, *, families: int, seed: int,
             on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Record ``families`` synthetic families through the real command path; a summary."""
    raise NotImplementedError("demo data is not built yet")
