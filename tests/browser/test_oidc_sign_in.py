"""Signing in to the console through the council's identity provider, in Chromium
(issue 22): the sign-in page's button goes to the provider on 127.0.0.1
(``tests/oidc_provider.py``), which signs the test user in at once and sends the browser
back with a code; the console exchanges it (PKCE), checks the ID token and its nonce,
and the person is signed in with the name and role the provider's claims give. Signing
out goes on to the provider's end-session endpoint and back to the sign-in page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from console.app import create_app
from ledger.settings import Settings
from tests.browser.support import serving
from tests.conftest import NOW, SECRET, FixedClock, open_ledger
from tests.oidc_provider import (  # noqa: F401  # the fixtures
    LocalProvider,
    oidc_provider_fixture,
    oidc_server_fixture,
    oidc_settings,
)


@pytest.fixture
def provider_app(tmp_path_factory: pytest.TempPathFactory, oidc_provider: LocalProvider) -> Iterator[str]:
    """The console beside the provider: no demo sign-in, an empty ledger."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("oidc") / "data", jwt_secret=SECRET,
                        **oidc_settings(oidc_provider))
    ledger = open_ledger(settings, FixedClock(NOW))
    try:
        with serving(create_app(ledger)) as base_url:
            yield base_url
    finally:
        ledger.close()


def test_a_manager_signs_in_and_out_through_the_councils_identity_provider(
        page: Page, provider_app: str, oidc_provider: LocalProvider, axe: Callable[..., list[dict[str, Any]]]) -> None:
    page.goto(f"{provider_app}/console/team")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("Demo only")).to_have_count(0)
    axe()
    page.get_by_role("link", name="Sign in with the council's identity provider").click()
    expect(page.get_by_text("Signed in as Meg Hughes")).to_be_visible()
    assert page.url == f"{provider_app}/console/team"
    assert oidc_provider.requests["/authorize"] == 1 and oidc_provider.requests["/token"] == 1
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.url == f"{provider_app}/console/sign-in"
    assert len(oidc_provider.logged_out) == 1
    page.goto(f"{provider_app}/console/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
