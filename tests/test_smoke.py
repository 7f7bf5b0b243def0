from tests.conftest import register, command, version


def test_register_and_refer(client):
    fam = register(client)
    fid = fam["family_id"]
    r = command(client, fid, {"type": "ReferralReceived", "route": "professional", "reason": "school attendance"})
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2
    assert version(client, fid) == 2
