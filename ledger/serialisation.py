"""Event and snapshot serialisation with orjson, through the library's Transcoder.

orjson writes datetimes and UUIDs natively but reads them back as strings, so a type
would be lost on the way back. Values whose type JSON cannot tell apart (UUID,
datetime, date, Decimal, tuple) are written as the library's tagged form
``{"_type_": name, "_data_": value}`` (the same convention as
``eventsourcing.persistence.JSONTranscoder``) and restored exactly on decode; everything
else goes straight through orjson. See docs/adr/0005-serialisation.md.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Transcoder

from ledger.moments import instant

_ENCODERS: dict[type, tuple[str, Callable[[Any], Any]]] = {
    UUID: ("uuid_hex", lambda v: v.hex),
    datetime: ("datetime_iso", lambda v: v.isoformat()),
    date: ("date_iso", lambda v: v.isoformat()),
    Decimal: ("decimal_str", str),
}
_DECODERS: dict[str, Callable[[Any], Any]] = {
    "uuid_hex": UUID,
    "datetime_iso": datetime.fromisoformat,
    "date_iso": date.fromisoformat,
    "decimal_str": Decimal,
    "tuple_list": tuple,
}
_PLAIN = (str, int, float, bool, type(None))


def _tag(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {k: _tag(v) for k, v in value.items()}
    if kind is list:
        return [_tag(v) for v in value]
    if kind is tuple:
        return {"_type_": "tuple_list", "_data_": [_tag(v) for v in value]}
    try:
        name, encode = _ENCODERS[kind]
    except KeyError:
        raise TypeError(f"cannot serialise a value of type {kind.__name__}") from None
    return {"_type_": name, "_data_": encode(value)}


def _untag(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            decoded = _untag(value["_data_"])
            return _DECODERS[value["_type_"]](decoded)
        return {k: _untag(v) for k, v in value.items()}
    if kind is list:
        return [_untag(v) for v in value]
    return value


class OrjsonTranscoder(Transcoder):
    """Transcoder for the ledger's events and snapshots (orjson, exact round trip)."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(_tag(obj))

    def decode(self, data: bytes) -> Any:
        return _untag(orjson.loads(data))


def to_json_value(value: Any) -> Any:
    """A plain JSON-ready form of event data for API responses and read models (instants
    in the one shape of ``ledger/moments.py``, ISO dates, UUID text)."""
    return orjson.loads(orjson.dumps(value, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME))


def answer_json(value: Any, option: int = 0) -> bytes:
    """JSON for what leaves the ledger (API answers, JSON exports): orjson, with every
    instant in the one shape (``2026-03-02T09:15:00.000000Z``: ADR 0036) and dates as
    ``YYYY-MM-DD``; any other value orjson does not write itself, as text."""
    return orjson.dumps(value, default=_as_text, option=option | orjson.OPT_PASSTHROUGH_DATETIME)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return instant(value)
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise a value of type {type(value).__name__}")


def _as_text(value: Any) -> Any:
    try:
        return _default(value)
    except TypeError:
        return str(value)
