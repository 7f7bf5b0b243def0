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
from uuid import UUID, SafeUUID

import orjson
from eventsourcing.persistence import Transcoder

from ledger.moments import instant

_ENCODERS: dict[type, tuple[str, Callable[[Any], Any]]] = {
    UUID: ("uuid_hex", lambda v: v.hex),
    datetime: ("datetime_iso", lambda v: v.isoformat()),
    date: ("date_iso", lambda v: v.isoformat()),
    Decimal: ("decimal_str", str),
}


_new, _set, _UNKNOWN = object.__new__, object.__setattr__, SafeUUID.unknown


def uuid_of(text: str) -> UUID:
    """``UUID(text)`` for the 32 hex digits the ledger writes (a tagged value, a stored
    event's family id on SQLite), without ``UUID.__init__``'s general parsing (the
    largest part of untagging an event): the same ``int``; any other text is left to
    ``UUID`` to read or refuse."""
    number = int(text, 16) if len(text) == 32 else -1
    if number < 0:
        return UUID(text)
    made = _new(UUID)
    _set(made, "int", number)
    _set(made, "is_safe", _UNKNOWN)
    return made


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "uuid_hex": uuid_of,
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


def _is_tagged(value: dict[str, Any]) -> bool:
    return len(value) == 2 and "_type_" in value and "_data_" in value


def _restored(tagged: dict[str, Any]) -> Any:
    data = tagged["_data_"]  # text, or a tuple's list
    return _DECODERS[tagged["_type_"]](data if type(data) is str else _untag(data))


def _untag(value: Any) -> Any:
    """``value`` (just made by ``orjson.loads``, so nobody else holds it) with every tagged
    value restored in place: a tagged value is replaced where it stands, every other dict
    or list is kept and walked, none is copied."""
    kind = type(value)
    if kind is dict:
        if _is_tagged(value):
            return _restored(value)
        items: Any = value.items()
    elif kind is list:
        items = enumerate(value)
    else:
        return value
    for k, v in items:  # replacing the value at a key or index while iterating is safe
        kind = type(v)
        if kind is dict:
            if _is_tagged(v):
                value[k] = _restored(v)
            elif v:
                _untag(v)
        elif kind is list and v:
            _untag(v)
    return value


def _untag_top_first(value: Any, tags: int) -> Any:
    """``_untag(value)``, knowing that at most ``tags`` tagged values are in it: the top
    level's first, and what is nested below it only while some may be left (an event's
    ids and times are at its top, so most events need no deeper walk)."""
    if type(value) is not dict or _is_tagged(value):
        return _untag(value)
    nested = []
    for k, v in value.items():
        kind = type(v)
        if kind is dict:
            if len(v) == 2 and "_type_" in v and "_data_" in v:  # _is_tagged, inline: the hottest loop
                value[k] = _restored(v)
                tags -= 1
            elif v:
                nested.append(v)
        elif kind is list and v:
            nested.append(v)
    if tags > 0:
        for v in nested:
            _untag(v)
    return value


class OrjsonTranscoder(Transcoder):
    """Transcoder for the ledger's events and snapshots (orjson, exact round trip)."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(_tag(obj))

    def decode(self, data: bytes) -> Any:
        # Every tagged value's "_type_" key is in the bytes (in a JSON string a quote is
        # escaped), so their count bounds the tagged values: none, no walk at all.
        tags = bytes(data).count(b'"_type_"')
        value = orjson.loads(data)
        return _untag_top_first(value, tags) if tags else value


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
