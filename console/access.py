"""Who may open which console page: rows added to the API's access table
(``api/access.py``) for this app, with the same roles, the same team rule and the same
access-log actions as the API read each page mirrors. ``tests/test_console.py`` checks
every row against every role, as ``tests/test_access.py`` does for the API.

A page that shows a family is authorised like ``GET /families/{family_id}`` (team roles
only their own team's families; auditors and inspectors any; services and admins none)
and writes the access-log row that read writes. Pages across families (search, a team's
view) are limited to a team role's own team like ``/deadlines``.
"""

from __future__ import annotations

from api.access import MANAGER_OR_AUDITOR, PACK_READERS, POLICY, READERS, Rule

PREFIX = "/console"

PAGES: dict[tuple[str, str], Rule] = {
    ("GET", "/"): Rule(PACK_READERS, public=True),
    ("GET", f"{PREFIX}/sign-in"): Rule(PACK_READERS, public=True),
    ("POST", f"{PREFIX}/sign-in"): Rule(PACK_READERS, public=True),
    ("POST", f"{PREFIX}/sign-out"): Rule(PACK_READERS, public=True),
    ("GET", f"{PREFIX}/auth/start"): Rule(PACK_READERS, public=True),
    ("GET", f"{PREFIX}/auth/callback"): Rule(PACK_READERS, public=True),
    ("GET", f"{PREFIX}/"): Rule(PACK_READERS, page=True),
    ("GET", f"{PREFIX}/families"): Rule(READERS, scope="team", log="search", page=True),
    ("GET", f"{PREFIX}/families/{{family_id}}"): Rule(READERS, scope="family", log="family", page=True),
    ("GET", f"{PREFIX}/families/{{family_id}}/decisions/{{event_id}}"): Rule(
        READERS, scope="family", log="decision", page=True),
    ("GET", f"{PREFIX}/families/{{family_id}}/oversight"): Rule(READERS, scope="family", log="oversight", page=True),
    ("GET", f"{PREFIX}/families/{{family_id}}/access-log"): Rule(
        MANAGER_OR_AUDITOR, scope="family", log="access-log", page=True),
    ("GET", f"{PREFIX}/families/{{family_id}}/download"): Rule(READERS, scope="family", log="export", page=True),
    ("GET", f"{PREFIX}/families/{{family_id}}/document"): Rule(READERS, scope="family", log="export", page=True),
    ("GET", f"{PREFIX}/team"): Rule(READERS, scope="team", log="deadlines-list", page=True),
    ("GET", f"{PREFIX}/policies"): Rule(PACK_READERS, page=True),
    ("GET", f"{PREFIX}/policies/{{policy_id}}"): Rule(PACK_READERS, page=True),
}
"""Every console route. Sign-in and sign-out are public (they make or end the session;
``auth/start`` and ``auth/callback`` are the identity provider's sign-in, ``console/oidc.py``);
every other page needs a session and a role the API would allow for the same read."""



def policy() -> dict[tuple[str, str], Rule]:
    """The access table of the app with the console on it."""
    return {**POLICY, **PAGES}
