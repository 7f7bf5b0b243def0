"""Registering a family over HTTP as a worker does who has checked the possible matches.

Tests register many families with the same children (Ava Stone, born 4 May 2016), which
the ledger answers 409 with the families that may already hold them (issue 25). A test
that is not about that goes on as a worker would after checking them: the registration
sent again with ``not_duplicate_of`` naming them. ``tests/test_people.py`` tests the
answer itself.
"""

from __future__ import annotations

from typing import Any


def post_family(client: Any, *, json: dict[str, Any], headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
    """POST /families; on a possible duplicate, again with the matches named as checked."""
    response = client.post("/families", json=json, headers=headers, **kwargs)
    if response.status_code == 409 and response.json().get("title") == "Possible duplicate":
        checked = sorted({m["family_id"] for m in response.json()["matches"]})
        body = {**json, "not_duplicate_of": [*json.get("not_duplicate_of", []), *checked]}
        response = client.post("/families", json=body, headers=headers, **kwargs)
    return response
