"""The legal hold register's refusing branches, as plain Python (no database): a hold
already in force is not placed twice, and lifting where none is in force changes nothing.
(The register refuses by answering what is in force rather than raising.)"""

from __future__ import annotations

from uuid import uuid4

from aggregates.holds import ALL, HoldRegister
from tests.family_builder import NOW


def test_a_hold_in_force_is_not_placed_again():
    register = HoldRegister.open(NOW)
    first = register.place(hold_id=uuid4(), scope=ALL, reason="national inquiry", by="ada", at=NOW)
    version = register.version
    again = register.place(hold_id=uuid4(), scope=ALL, reason="another inquiry", by="bob", at=NOW)
    assert again == first and again["reason"] == "national inquiry"
    assert register.version == version and len(register.pending_events) == 2


def test_a_hold_is_placed_per_family_beside_one_on_everything():
    register = HoldRegister.open(NOW)
    register.place(hold_id=uuid4(), scope=ALL, reason="national inquiry", by="ada", at=NOW)
    family = uuid4().hex
    placed = register.place(hold_id=uuid4(), scope=family, reason="court case", by="ada", at=NOW)
    assert placed["scope"] == family and register.in_force(family) == placed


def test_lifting_where_no_hold_is_in_force_changes_nothing():
    register = HoldRegister.open(NOW)
    assert register.lift(scope=ALL, by="ada", at=NOW) is None
    assert register.version == 1 and len(register.pending_events) == 1
    register.place(hold_id=uuid4(), scope=ALL, reason="inquiry", by="ada", at=NOW)
    lifted = register.lift(scope=ALL, by="ada", at=NOW)
    assert lifted is not None and lifted["lifted_by"] == "ada"
    assert register.lift(scope=ALL, by="ada", at=NOW) is None and register.in_force(ALL) is None
    renewed = register.place(hold_id=uuid4(), scope=ALL, reason="inquiry again", by="ada", at=NOW)
    assert renewed["reason"] == "inquiry again" and register.in_force(ALL) == renewed
