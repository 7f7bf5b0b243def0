"""Events sealed whole (ADR 0038) and events sealed field by field, read side by side.

New events hold one AES-GCM seal of all their personal fields, bound to the family;
events stored before ADR 0038 hold a seal per field, bound to the family and the
field's path. The old ones are made here as the ledger made them then (``old_layout``),
from the same domain events, and must read exactly as the new ones do: in the clear
while the family's key lives, as erased once it is destroyed. A seal tampered with, or
moved to another family, refuses to open.
"""

from __future__ import annotations

import base64
import os
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Mapper, StoredEvent

from aggregates.events import PERSONAL_CONTEXT, PERSONAL_MEMBER
from ledger import integrity
from ledger.serialisation import OrjsonTranscoder
from tests.conftest import command, register

pytestmark = pytest.mark.storage

REFERRAL = {"type": "ReferralReceived", "route": "professional", "reason": "school worried about Quillon",
            "occurred_at": "2026-01-05T09:00:00+00:00"}
NOTE = {"type": "CaseNoteRecorded", "text": "Quillon likes trains", "occurred_at": "2026-01-07T09:00:00+00:00",
        "note": "home visit, Larkspur Road", "significance": "high"}
CONTEXT = {"significance": "high", "note": "home visit, Larkspur Road"}


def old_layout(ledger: Any, event: Any) -> StoredEvent:
    """``event`` stored as the ledger stored events before ADR 0038: each personal value
    replaced in its place by ``{"_sealed_": nonce + AES-GCM({"v": value}), "_kind_": ...}``
    under the family's key, with ``"<family hex>:<field path>"`` as associated data."""
    family, transcoder = event.originator_id, ledger.mapper.transcoder
    key = ledger.keys.key_for(family)

    def seal(where: str, value: Any) -> dict[str, str]:
        nonce = os.urandom(12)
        blob = nonce + AESGCM(key).encrypt(nonce, transcoder.encode({"v": value}), f"{family.hex}:{where}".encode())
        kind = ("none" if value is None else "date" if isinstance(value, date)
                else "list" if isinstance(value, list) else "str")
        return {"_sealed_": base64.b64encode(blob).decode(), "_kind_": kind}

    state = dict(vars(event))
    for name in type(event).personal:
        state[name] = seal(name, state[name])
    if state.get("members"):
        state["members"] = [{**m, **{f: seal(f"members.{i}.{f}", m[f]) for f in PERSONAL_MEMBER if f in m}}
                            for i, m in enumerate(state["members"])]
    if any(k in state["context"] for k in PERSONAL_CONTEXT):
        state["context"] = {k: seal(f"context.{k}", v) if k in PERSONAL_CONTEXT else v
                            for k, v in state["context"].items()}
    sealed = object.__new__(type(event))
    object.__setattr__(sealed, "__dict__", state)
    return Mapper.to_stored_event(ledger.mapper, sealed)  # the library's, as the old mapper ended


@pytest.fixture
def family(client, ledger):
    """A family registered (three members), referred, with a case note (free text and a
    context note): its stored events, in the new layout."""
    fid = register(client)["family_id"]
    for body in (REFERRAL, NOTE):
        r = command(client, fid, body)
        assert r.status_code == 201, r.text
    return ledger.recorder.select_events(UUID(fid))


def _read(ledger, stored):
    event = ledger.mapper.to_domain_event(stored)
    return type(event), list(vars(event).items())  # the fields' order too


def _with_state(stored: StoredEvent, state: dict[str, Any], **changed: Any) -> StoredEvent:
    fields = {"originator_id": stored.originator_id, "originator_version": stored.originator_version,
              "topic": stored.topic, "state": orjson.dumps(state), **changed}
    return StoredEvent(**fields)


def test_new_events_hold_one_seal_and_nothing_personal_in_the_clear(ledger, family):
    for stored in family:
        raw = bytes(stored.state)
        assert b'"_kind_"' not in raw
        for secret in (b"Ava", b"Stone", b"2016-05-04", b"Quillon", b"Larkspur"):
            assert secret not in raw.split(b'"_sealed_"')[0], secret
    registered, _, note = (orjson.loads(s.state) for s in family)
    kinds = {"given_name": "str", "family_name": "str", "date_of_birth": "date", "expected_date": "none"}
    assert registered["_seal_"]["_kinds_"] == {f"members.{i}.{f}": kind for i in range(3) for f, kind in kinds.items()}
    assert note["text"] is None and note["context"] == {**CONTEXT, "note": None}
    assert note["_seal_"]["_kinds_"] == {"text": "str", "context.note": "str"}
    assert integrity.verify(ledger).ok  # the hash chain is over the stored bytes, seal included


def test_an_event_reads_back_as_recorded_and_as_its_old_layout_reads(ledger, family):
    for stored in family:
        event = ledger.mapper.to_domain_event(stored)
        old = old_layout(ledger, event)
        assert b'"_seal_"' not in old.state and b'"_kind_"' in old.state
        assert _read(ledger, old) == _read(ledger, stored)
    registered, _, note = (ledger.mapper.to_domain_event(s) for s in family)
    assert [(m["given_name"], m["date_of_birth"]) for m in registered.members] == [
        ("Ava", date(2016, 5, 4)), ("Ben", date(2026, 3, 1)), ("Cara", date(1990, 2, 3))]
    assert isinstance(registered.members[0]["member_id"], UUID)
    assert (note.text, note.context) == ("Quillon likes trains", CONTEXT)


def test_after_erasure_old_and_new_layouts_read_as_the_same_blanks(ledger, family):
    olds = [old_layout(ledger, ledger.mapper.to_domain_event(s)) for s in family]
    fid = family[0].originator_id
    ledger.keys.destroy(fid, by="test", reason="erasure-request")
    for new, old in zip(family, olds, strict=True):
        assert _read(ledger, new) == _read(ledger, old)
    registered, _, note = (ledger.mapper.to_domain_event(s) for s in family)
    assert [(m["given_name"], m["family_name"], m["date_of_birth"], m["kind"]) for m in registered.members] == [
        ("[erased]", "[erased]", None, "child"), ("[erased]", "[erased]", None, "child"),
        ("[erased]", "[erased]", None, "adult")]
    assert (note.text, note.context) == ("[erased]", {**CONTEXT, "note": "[erased]"})


def test_a_tampered_seal_refuses_to_open(ledger, family):
    note = family[2]
    state = orjson.loads(note.state)
    blob = bytearray(base64.b64decode(state["_seal_"]["_sealed_"]))
    blob[20] ^= 1
    state["_seal_"]["_sealed_"] = base64.b64encode(bytes(blob)).decode()
    with pytest.raises(InvalidTag):
        ledger.mapper.to_domain_event(_with_state(note, state))


def test_a_seal_moved_to_another_family_refuses_to_open(client, ledger, family):
    registered, _, note = family
    other = ledger.recorder.select_events(UUID(register(client)["family_id"]))[0]
    with pytest.raises(InvalidTag):  # a new seal
        ledger.mapper.to_domain_event(_with_state(registered, orjson.loads(registered.state),
                                                  originator_id=other.originator_id))
    old = old_layout(ledger, ledger.mapper.to_domain_event(note))
    with pytest.raises(InvalidTag):  # an old per-field seal, as always
        ledger.mapper.to_domain_event(_with_state(old, orjson.loads(old.state), originator_id=other.originator_id))


@pytest.mark.one_database
def test_the_transcoder_restores_every_tagged_value_wherever_it_is():
    when = datetime(2026, 3, 2, 9, 15, tzinfo=timezone.utc)
    value = {"at": when, "id": uuid4(), "ids": [uuid4(), {"deep": (uuid4(), date(2020, 1, 2))}],
             "amount": Decimal("1.50"), "pair": (1, "a"), "plain": {"_type_": "x", "other": 1},
             "text": '{"_type_": "uuid_hex", "_data_": "not a tag"}', "none": None}
    transcoder = OrjsonTranscoder()
    decoded = transcoder.decode(transcoder.encode(value))
    assert decoded == value
    assert [type(x) for x in (decoded["id"], decoded["pair"], decoded["ids"][1]["deep"])] == [UUID, tuple, tuple]
    made, known = decoded["id"], value["id"]
    assert (str(made), hash(made), made.is_safe, made.int) == (str(known), hash(known), known.is_safe, known.int)
    with pytest.raises(ValueError):
        transcoder.decode(b'{"_type_": "uuid_hex", "_data_": "-' + b"1" * 31 + b'"}')
