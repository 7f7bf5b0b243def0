"""JSON responses serialised with orjson (UUIDs natively; instants in the one shape of
``ledger/moments.py``, ``2026-03-02T09:15:00.000000Z``, and dates as ``YYYY-MM-DD``:
ADR 0036)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse as _StarletteJSON

from ledger.serialisation import answer_json


class JSONResponse(_StarletteJSON):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return answer_json(content)
