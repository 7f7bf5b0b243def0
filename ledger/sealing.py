"""Personal data sealed with the family's key as events are stored (ADR 0013, ADR 0038).

``SealingMapper`` is the application's ``eventsourcing`` mapper. Before an event is
transcoded, its personal fields (``FamilyEvent.personal``, members' names and dates of
birth, free-text context) are sealed together under the family's key with AES-GCM, bound
to the family: the stored state keeps each field in its place as
``null`` and adds ``"_seal_": {"_sealed_": <ciphertext>, "_kinds_": {<field path>:
<str|date|list|dict|...>}}``. Reading reverses it; once the key is destroyed each sealed
field reads as erased by its kind ("[erased]" for text, ``None`` for a date, an empty
list or mapping), so event types, times, actors, codes and deadlines stay readable while
names and free text are gone.

Events stored before ADR 0038 hold one seal per field instead (``{"_sealed_": ...,
"_kind_": ...}`` in the field's place, bound to the family and the field's path); they
read exactly as they always did. Snapshots (derived state, names included) are sealed
whole, as one such value.

Decoding every stored event is what a rebuild costs, so ``to_domain_event`` is the
library's, made lean: one pass of untagging, one seal opened, one cipher object kept per
key.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections import OrderedDict
from datetime import date
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent, Transcoder
from eventsourcing.utils import resolve_topic

from aggregates.events import PERSONAL_CONTEXT, PERSONAL_MEMBER, FamilyEvent
from ledger.keys import KeyDestroyed, KeyStore
from ledger.serialisation import uuid_of

ERASED = "[erased]"
SEALED, KIND = "_sealed_", "_kind_"
SEAL, KINDS = "_seal_", "_kinds_"
BLANK: dict[str, Any] = {"str": ERASED, "date": None, "list": [], "dict": {}, "none": None}
PER_FIELD = b'"_kind_"'
"""In the stored bytes of every event sealed field by field (before ADR 0038), and of no
other: a quote inside a JSON string is escaped, and ``"_kinds_"`` does not contain it."""
CIPHERS_KEPT = 4096
"""AES-GCM objects kept, one per family key (~2.5 KB each); making one costs as much as
a decryption."""


def _kind(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, str):
        return "str"
    if isinstance(value, date):
        return "date"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return "other"


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and SEALED in value and KIND in value


def _bound(family: UUID) -> bytes:
    """An event's seal's associated data: it opens in this family's events only (``@``
    is in no per-field seal's path). Not bound to the one event or its type: a row
    copied, moved or stored under a renamed type must still decode, for ``ledger
    verify`` to name it and for upcasting; the hash chain is what shows a row moved."""
    return f"{family.hex}:@event".encode()


def _put(state: dict[str, Any], where: str, value: Any) -> None:
    """Set the value at a field path (``title``, ``members.0.given_name``, ``context.note``)."""
    *path, name = where.split(".")
    target: Any = state
    for step in path:
        target = target[int(step)] if type(target) is list else target[step]
    target[name] = value


class SealingMapper(Mapper[UUID]):
    def __init__(self, transcoder: Transcoder, keys: KeyStore, **kwargs: Any) -> None:
        super().__init__(transcoder, **kwargs)
        self.keys = keys
        self._ciphers: OrderedDict[bytes, AESGCM] = OrderedDict()

    def _cipher(self, key: bytes) -> AESGCM:
        cipher = self._ciphers.get(key)
        if cipher is None:
            if len(self._ciphers) >= CIPHERS_KEPT:
                # The longest kept goes. Not ``del d[next(iter(d))]`` on a plain dict: its
                # iteration walks past every slot deleted before, 2.5 us a miss at this
                # size (with 22,000 families read in position order, about 4 us an event).
                self._ciphers.popitem(last=False)
            cipher = self._ciphers[key] = AESGCM(key)
        return cipher

    # -- one value: a snapshot, or a field of an event stored before ADR 0038 ---------------

    def _seal(self, key: bytes, family: UUID, where: str, value: Any) -> dict[str, str]:
        nonce = os.urandom(12)
        plain = self.transcoder.encode({"v": value})
        blob = nonce + self._cipher(key).encrypt(nonce, plain, f"{family.hex}:{where}".encode())
        return {SEALED: base64.b64encode(blob).decode(), KIND: _kind(value)}

    def _open(self, key: bytes | None, family: UUID, where: str, sealed: dict[str, str]) -> Any:
        if key is None:
            return BLANK.get(sealed[KIND])
        blob = binascii.a2b_base64(sealed[SEALED])
        plain = self._cipher(key).decrypt(blob[:12], blob[12:], f"{family.hex}:{where}".encode())
        return self.transcoder.decode(plain)["v"]

    # -- an event's personal fields, sealed together ----------------------------------------

    def _seal_event(self, key: bytes, family: UUID, personal: dict[str, Any]) -> dict[str, Any]:
        nonce = os.urandom(12)
        blob = nonce + self._cipher(key).encrypt(nonce, self.transcoder.encode(personal), _bound(family))
        return {SEALED: base64.b64encode(blob).decode(), KINDS: {where: _kind(v) for where, v in personal.items()}}

    def _open_event(self, state: dict[str, Any], family: UUID, seal: dict[str, Any]) -> None:
        key = self.keys.key_for(family)
        if key is None:
            values = {where: BLANK.get(kind) for where, kind in seal[KINDS].items()}
        else:
            blob = binascii.a2b_base64(seal[SEALED])
            plain = self._cipher(key).decrypt(blob[:12], blob[12:], _bound(family))
            values = self.transcoder.decode(plain)
        for where, value in values.items():
            _put(state, where, value)

    # -- an event's state -------------------------------------------------------------------

    def _walk(self, state: dict[str, Any], cls: type, change: Any) -> None:
        """Apply ``change(where, value)`` to every personal value of an event's state."""
        if issubclass(cls, Snapshot):
            state["state"] = change("snapshot", state["state"])
            return
        if not issubclass(cls, FamilyEvent):
            return
        for name in cls.personal:
            if name in state:
                state[name] = change(name, state[name])
        members = state.get("members")
        if isinstance(members, list):
            state["members"] = [
                {**m, **{f: change(f"members.{i}.{f}", m[f]) for f in PERSONAL_MEMBER if f in m}}
                for i, m in enumerate(members)]
        context = state.get("context")
        if isinstance(context, dict) and any(k in context for k in PERSONAL_CONTEXT):
            state["context"] = {k: change(f"context.{k}", v) if k in PERSONAL_CONTEXT else v
                                for k, v in context.items()}

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        family = domain_event.originator_id
        cls = type(domain_event)
        snapshot = issubclass(cls, Snapshot)
        if not (snapshot or (issubclass(cls, FamilyEvent) and _has_personal(domain_event))):
            return super().to_stored_event(domain_event)
        key = self.keys.key_for(family, create=True)
        if key is None and snapshot:
            return super().to_stored_event(domain_event)  # read after erasure: nothing personal left
        if key is None:
            raise KeyDestroyed(f"family {family} was erased: no personal data can be recorded for it")
        state = dict(vars(domain_event))
        if snapshot:
            self._walk(state, cls, lambda where, value: self._seal(key, family, where, value))
        else:
            personal: dict[str, Any] = {}

            def take(where: str, value: Any) -> None:
                personal[where] = value  # left in its place as null: the fields keep their order

            self._walk(state, cls, take)
            state[SEAL] = self._seal_event(key, family, personal)
        sealed = object.__new__(cls)
        object.__setattr__(sealed, "__dict__", state)
        return super().to_stored_event(sealed)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        """The library's ``Mapper.to_domain_event`` (no cipher or compressor here), with
        the personal fields opened: an event's seal before upcasting, so upcasters see the
        fields as they were written; per-field seals after it, as always."""
        cls = resolve_topic(stored_event.topic)
        data = stored_event.state
        try:
            state: dict[str, Any] = self.transcoder.decode(data)
        except Exception as e:
            raise MapperDeserialisationError(
                f"Failed to deserialise state of stored event with topic '{stored_event.topic}', originator_id "
                f"'{stored_event.originator_id}' and originator_version {stored_event.originator_version}: {e}"
            ) from e
        stored_id = stored_event.originator_id  # every aggregate here has UUID ids (the library's convertor)
        family = stored_id if isinstance(stored_id, UUID) else uuid_of(stored_id)
        seal = state.pop(SEAL, None)
        if seal is not None:
            self._open_event(state, family, seal)
        state["originator_id"] = family
        state["originator_version"] = stored_event.originator_version
        from_version, class_version = state.pop("class_version", 1), getattr(cls, "class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        if seal is None and PER_FIELD in data:
            self._open_fields(state, cls, family)
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event

    def _open_fields(self, state: dict[str, Any], cls: type, family: UUID) -> None:
        """Open an event stored field by field (before ADR 0038), or a snapshot."""
        cache: list[bytes | None] = []

        def unseal(where: str, value: Any) -> Any:
            if not is_sealed(value):
                return value
            if not cache:
                cache.append(self.keys.key_for(family))
            return self._open(cache[0], family, where, value)

        self._walk(state, cls, unseal)


def _has_personal(event: Any) -> bool:
    state = vars(event)
    return bool(type(event).personal) or bool(state.get("members")) or any(
        k in (state.get("context") or {}) for k in PERSONAL_CONTEXT)
