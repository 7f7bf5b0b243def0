"""Tokens of the council's OpenID Connect provider (Entra ID, or any other): what the
provider publishes (its discovery document and keys), whether one of its tokens is
genuine, and who it says the bearer is in the ledger's terms (ADR 0033).

A token is an RS256 or ES256 JWT signed with a key the provider publishes at its
``jwks_uri``; its issuer, audience, expiry and not-before are checked with a small
clock-skew allowance (``oidc_leeway_seconds``). ``alg: none``, HS256 and every other
algorithm are refused before any key is looked up. The keys are PyJWT's ``PyJWKClient``
cache; a key id (``kid``) not in it fetches the set again, but at most once every
``oidc_key_refresh_seconds`` by this module's own clock (``Keys``), so that a rotated key
is taken at once and a flood of made-up ``kid``s cannot make the ledger flood the
provider.

The person's role and team come from claims the settings name (``oidc_role_claim``: Entra's
app roles arrive as ``roles``; ``oidc_team_claim``), mapped by ``oidc_role_map`` and
``oidc_team_map``; their name and job title from ``oidc_name_claim`` and
``oidc_job_title_claim``, recorded as ADR 0030 says. A token that maps to no role, or to
several, is ``RoleRefused`` (403): it is genuine, but says nothing the ledger can act on.

The console signs in with the Authorization Code flow and PKCE (``authorization_url``,
``exchange``, ``verify`` with the nonce); ``console/oidc.py`` keeps the state.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import jwt

from aggregates.vocabulary import ROLES, TEAM_ROLES
from ledger.settings import Settings
from ledger.tokens import TokenRefused, inspector_period, person_claim

ALGORITHMS = ("RS256", "ES256")
"""The signatures taken from a provider: asymmetric only, so no shared secret exists."""
MAX_USER_ID = 200


class RoleRefused(Exception):
    """A genuine token that maps to no role of the ledger, or to no team for a team role
    (the API answers 403 with this detail)."""


class ProviderUnavailable(Exception):
    """The provider's discovery document, keys or token endpoint did not answer (503)."""


Fetch = Callable[[urllib.request.Request], Any]


def fetch_json(request: urllib.request.Request, timeout: float = 10.0) -> Any:
    """A JSON answer from the provider (standard library: no HTTP client to depend on)."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # http(s) URLs of the settings
            return json.load(answer)
    except urllib.error.HTTPError as e:
        body = e.read(2000).decode("utf-8", "replace")
        e.close()
        raise ProviderUnavailable(f"{request.full_url} answered {e.code}: {body}") from None
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as e:
        raise ProviderUnavailable(f"{request.full_url} did not answer: {e}") from None


def pkce() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class Keys:
    """The provider's signing keys: PyJWT's cached key set, fetched again on an unknown
    ``kid`` at most once every ``min_interval`` seconds of ``clock``.

    Not ``PyJWKClient.get_signing_key``: its own cooldown runs on ``time.monotonic`` from
    every fetch, the first included, so a key rotated just after start-up waits for it,
    and no test can move its clock."""

    def __init__(self, url: str, *, min_interval: float, clock: Callable[[], float],
                 lifespan: float = 3600.0) -> None:
        self._client = jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=lifespan, cooldown_duration=0, timeout=10)
        self._min_interval = min_interval
        self._clock = clock
        self._refreshed: float | None = None
        self._lock = threading.Lock()

    def get(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            found = self._match(self._keys(refresh=False), kid)
            now = self._clock()
            if found is None and (self._refreshed is None or now - self._refreshed >= self._min_interval):
                self._refreshed = now
                found = self._match(self._keys(refresh=True), kid)
            if found is None:
                raise TokenRefused(f"the token is signed with a key the provider does not publish (kid {kid!r})")
            return found

    def _keys(self, *, refresh: bool) -> list[jwt.PyJWK]:
        try:
            keys = self._client.get_signing_keys(refresh=refresh)
        except jwt.PyJWKClientConnectionError as e:
            raise ProviderUnavailable(f"the provider's keys could not be fetched: {e}") from None
        except jwt.PyJWKClientError as e:
            raise ProviderUnavailable(f"the provider's keys are not usable: {e}") from None
        return keys

    @staticmethod
    def _match(keys: list[jwt.PyJWK], kid: str) -> jwt.PyJWK | None:
        return next((k for k in keys if k.key_id == kid), None)


class Provider:
    """One OpenID Connect provider, as the settings name it."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time,
                 fetch: Fetch = fetch_json) -> None:
        if not settings.oidc_issuer or not settings.oidc_audience:
            raise ValueError("an OpenID Connect provider needs LEDGER_OIDC_ISSUER and LEDGER_OIDC_AUDIENCE")
        self.settings = settings
        self.issuer = settings.oidc_issuer
        self.audience = settings.oidc_audience
        self.client_id = settings.oidc_client_id or settings.oidc_audience
        self.clock = clock
        self._fetch = fetch
        self._metadata: dict[str, Any] | None = None
        self._keys: Keys | None = None
        self._lock = threading.Lock()

    # -- what the provider publishes ------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The discovery document (fetched once; again after a failure)."""
        with self._lock:
            if self._metadata is None:
                url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                found = self._fetch(urllib.request.Request(url, headers={"Accept": "application/json"}))
                if not isinstance(found, dict) or found.get("issuer") != self.issuer:
                    raise ProviderUnavailable(f"{url} is not the discovery document of {self.issuer} (its issuer "
                                              f"is {found.get('issuer') if isinstance(found, dict) else None!r})")
                self._metadata = found
            return self._metadata

    def keys(self) -> Keys:
        if self._keys is None:
            url = self.settings.oidc_jwks_url or self.metadata().get("jwks_uri")
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                raise ProviderUnavailable("the provider's discovery document names no jwks_uri")
            self._keys = Keys(url, min_interval=self.settings.oidc_key_refresh_seconds, clock=lambda: self.clock())
        return self._keys

    # -- tokens ---------------------------------------------------------------------------

    def verify(self, token: str, *, audience: str | None = None, nonce: str | None = None) -> dict[str, Any]:
        """The claims of a genuine token of this provider for ``audience`` (the API's by
        default), or ``TokenRefused`` saying why not."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as e:
            raise TokenRefused(f"the token is not valid: {e}") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise TokenRefused(f"the token is not valid: its algorithm {algorithm!r} is not accepted "
                               f"(the provider's tokens are {' or '.join(ALGORITHMS)})")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRefused("the token is not valid: it names no signing key (kid)")
        key = self.keys().get(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[algorithm], audience=audience or self.audience, issuer=self.issuer,
                options={"require": ["exp", "iss", "aud"], "verify_exp": False, "verify_nbf": False,
                         "verify_iat": False})
        except jwt.InvalidAudienceError:
            raise TokenRefused("the token is not valid: it is not for this ledger (aud)") from None
        except jwt.InvalidIssuerError:
            raise TokenRefused("the token is not valid: it is not from this ledger's provider (iss)") from None
        except jwt.InvalidTokenError as e:
            raise TokenRefused(f"the token is not valid: {e}") from None
        self._check_times(claims)
        if nonce is not None and not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise TokenRefused("the ID token's nonce is not the one this sign-in sent")
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        """Expiry, not-before and issued-at against this provider's clock, with the leeway."""
        now, leeway = self.clock(), self.settings.oidc_leeway_seconds
        for claim in ("exp", "nbf", "iat"):
            if claim in claims and not isinstance(claims[claim], (int, float)):
                raise TokenRefused(f"the token is not valid: its {claim} is not a time")
        if claims["exp"] <= now - leeway:
            raise TokenRefused("the token has expired")
        if "nbf" in claims and claims["nbf"] > now + leeway:
            raise TokenRefused("the token is not valid yet (nbf)")
        if "iat" in claims and claims["iat"] > now + leeway:
            raise TokenRefused("the token is not valid: it says it was issued in the future (iat)")

    def decode(self, token: str) -> dict[str, str]:
        """The actor an API bearer token of the provider speaks for."""
        return self.actor(self.verify(token))

    def actor(self, claims: dict[str, Any]) -> dict[str, str]:
        """Who the claims say the bearer is, as the ledger's actor (``user_id``, ``role``,
        ``team``, and ``name``/``job_title`` when the token has them)."""
        settings = self.settings
        user = claims.get(settings.oidc_user_claim)
        if not isinstance(user, str) or not user.strip() or len(user) > MAX_USER_ID or not user.isprintable():
            raise TokenRefused(f"the token's {settings.oidc_user_claim} claim does not name the person")
        role = self._one(claims, settings.oidc_role_claim, settings.oidc_role_map, kind="role",
                         known=lambda value: value if value in ROLES else None)
        team = ""
        if role in TEAM_ROLES:
            team = self._one(claims, settings.oidc_team_claim, settings.oidc_team_map, kind="team",
                             known=lambda value: None if settings.oidc_team_map else value, role=role)
        if role == "inspector":
            inspector_period(claims)
        actor = {"user_id": user.strip(), "role": role, "team": team}
        for claim, setting in (("name", settings.oidc_name_claim), ("job_title", settings.oidc_job_title_claim)):
            text = person_claim(setting, claims.get(setting))
            if text:
                actor[claim] = text
        return actor

    @staticmethod
    def _one(claims: dict[str, Any], claim: str, mapping: dict[str, str], *, kind: str,
             known: Callable[[str], str | None], role: str | None = None) -> str:
        """The one role (or team) a claim's values map to, or ``RoleRefused`` naming the claim."""
        raw = claims.get(claim)
        values = [raw] if isinstance(raw, str) else [v for v in raw if isinstance(v, str)] if isinstance(
            raw, list) else []
        whose = f"a {role}'s team" if role else "a role"
        if not values:
            raise RoleRefused(f"the token has no {claim!r} claim, which gives {whose} in the ledger")
        found = sorted({m for m in (mapping.get(v) or known(v) for v in values) if m})
        if not found:
            shown = ", ".join(repr(v) for v in values[:5]) + (", ..." if len(values) > 5 else "")
            raise RoleRefused(f"the token's {claim!r} claim ({shown}) names no {kind} of the ledger"
                              + (f" (for a {role})" if role else ""))
        if len(found) > 1:
            raise RoleRefused(f"the token's {claim!r} claim names several {kind}s ({', '.join(found)}): "
                              f"a person acts in one {kind} at a time")
        return found[0]

    # -- the console's sign-in ------------------------------------------------------------

    def authorization_url(self, *, redirect_uri: str, state: str, nonce: str, challenge: str) -> str:
        endpoint = self._endpoint("authorization_endpoint")
        query = urlencode({"response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
                           "scope": self.settings.oidc_scopes, "state": state, "nonce": nonce,
                           "code_challenge": challenge, "code_challenge_method": "S256"})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    def exchange(self, *, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
        """The token endpoint's answer for an authorisation code and its PKCE verifier."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "client_id": self.client_id, "code_verifier": verifier}
        if self.settings.oidc_client_secret:
            form["client_secret"] = self.settings.oidc_client_secret
        request = urllib.request.Request(
            self._endpoint("token_endpoint"), data=urlencode(form).encode("ascii"), method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
        answer = self._fetch(request)
        if not isinstance(answer, dict) or not isinstance(answer.get("id_token"), str):
            raise ProviderUnavailable("the provider's token endpoint answered without an ID token")
        return answer

    def end_session_url(self, *, post_logout_redirect_uri: str) -> str | None:
        """Where to end the provider's own session, if its discovery document says."""
        endpoint = self.metadata().get("end_session_endpoint")
        if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
            return None
        query = urlencode({"client_id": self.client_id, "post_logout_redirect_uri": post_logout_redirect_uri})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    def _endpoint(self, name: str) -> str:
        found = self.metadata().get(name)
        if not isinstance(found, str) or not found.startswith(("https://", "http://")):
            raise ProviderUnavailable(f"the provider's discovery document names no {name}")
        return found
