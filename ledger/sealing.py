"""Personal data sealed with the family's key as events are stored (ADR 0013).

``SealingMapper`` is the application's ``eventsourcing`` mapper: before an event is
transcoded, each of its personal fields (``FamilyEvent.personal``, members' names and
dates of birth, free-text context) is replaced by ``{"_sealed_": <AES-GCM ciphertext>,
"_kind_": <str|date|list|dict|...>}`` under the family's key, bound to the family and the
field. Reading reverses it; once the key is destroyed a sealed field reads as erased
("[erased]" for text, ``None`` for a date, an empty list or mapping), so event types,
times, actors, codes and deadlines stay readable while names and free text are gone.
Snapshots (derived state, names included) are sealed whole.
"""

from __future__ import annotations

import base64
import os
from datetime import date
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder

from aggregates.events import PERSONAL_CONTEXT, PERSONAL_MEMBER, FamilyEvent
from ledger.keys import KeyDestroyed, KeyStore

ERASED = "[erased]"
SEALED, KIND = "_sealed_", "_kind_"
BLANK: dict[str, Any] = {"str": ERASED, "date": None, "list": [], "dict": {}, "none": None}


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


class SealingMapper(Mapper[UUID]):
    def __init__(self, transcoder: Transcoder, keys: KeyStore, **kwargs: Any) -> None:
        super().__init__(transcoder, **kwargs)
        self.keys = keys

    # -- one value ----------------------------------------------------------------------

    def _seal(self, key: bytes, family: UUID, where: str, value: Any) -> dict[str, str]:
        nonce = os.urandom(12)
        plain = self.transcoder.encode({"v": value})
        blob = nonce + AESGCM(key).encrypt(nonce, plain, f"{family.hex}:{where}".encode())
        return {SEALED: base64.b64encode(blob).decode(), KIND: _kind(value)}

    def _open(self, key: bytes | None, family: UUID, where: str, sealed: dict[str, str]) -> Any:
        if key is None:
            return BLANK.get(sealed[KIND])
        blob = base64.b64decode(sealed[SEALED])
        plain = AESGCM(key).decrypt(blob[:12], blob[12:], f"{family.hex}:{where}".encode())
        return self.transcoder.decode(plain)["v"]

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
        if not (issubclass(cls, Snapshot) or (issubclass(cls, FamilyEvent) and _has_personal(domain_event))):
            return super().to_stored_event(domain_event)
        key = self.keys.key_for(family, create=True)
        if key is None and issubclass(cls, Snapshot):
            return super().to_stored_event(domain_event)  # read after erasure: nothing personal left
        if key is None:
            raise KeyDestroyed(f"family {family} was erased: no personal data can be recorded for it")
        state = dict(vars(domain_event))
        self._walk(state, cls, lambda where, value: self._seal(key, family, where, value))
        sealed = object.__new__(cls)
        object.__setattr__(sealed, "__dict__", state)
        return super().to_stored_event(sealed)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event = super().to_domain_event(stored_event)
        state = event.__dict__
        family = UUID(str(stored_event.originator_id))
        cache: list[bytes | None] = []

        def unseal(where: str, value: Any) -> Any:
            if not is_sealed(value):
                return value
            if not cache:
                cache.append(self.keys.key_for(family))
            return self._open(cache[0], family, where, value)

        self._walk(state, type(event), unseal)
        return event


def _has_personal(event: Any) -> bool:
    state = vars(event)
    return bool(type(event).personal) or bool(state.get("members")) or any(
        k in (state.get("context") or {}) for k in PERSONAL_CONTEXT)
