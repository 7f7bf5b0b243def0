import pytest

from tests.conftest import command, register, version

# Storage test (docs/testing.md): the smallest write and read back, on every database.
pytestmark = pytest.mark.storage


def test_register_and_refer(client):
    fam = register(client)
    fid = fam["family_id"]
    r = command(client, fid, {"type": "ReferralReceived", "route": "professional", "reason": "school attendance"})
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2
    assert version(client, fid) == 2
