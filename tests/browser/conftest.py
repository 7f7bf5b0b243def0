"""Browser tests: the served app (the API with the console's pages) in Debian's Chromium,
driven by Playwright (docs/testing.md, "Browser tests"; ADR 0028).

- ``served`` (one per session, so one per pytest-xdist worker): a fresh SQLite ledger on
  the tests' fixed clock with twelve demo families (seed 1), served by uvicorn on a free
  port of 127.0.0.1; ``served.base_url``, ``served.ledger``, ``served.token(role, team)``.
- ``browser`` (one per test module): headless Chromium. Without one, the tests are
  skipped with the reason; in CI (``CI`` set) they fail, as CI installs it (``.ci/run``).
  Not one per session: while Playwright's sync API is started, its event loop stays
  marked as running on the thread, and any later test in the same worker that calls
  ``asyncio.run`` (the benchmark's HTTP load) fails with "cannot be called from a running
  event loop". Stopped after each module, Playwright leaves the thread as it found it.
- ``page`` (one per test): Playwright's ``Page`` in a fresh context whose relative URLs
  are the served app's (``page.goto("/docs")``). The test fails at teardown if any
  request would have left the machine (each is aborted before it goes) or if anything
  was logged as a console error or thrown uncaught; ``page_watch.expect_errors(...)``
  takes the ones a test caused on purpose.
- ``shot(name)``: full-page screenshots at 1280 and 390 px wide in
  ``test-output/screenshots/``; ``axe()``: axe-core on the page as it is, failing on a
  serious or critical violation (``axe(gated=())`` only reports). Fixtures of their own,
  bound to the test's ``page``, so that ``page`` stays Playwright's own ``Page``, which
  ``expect(page)`` and Playwright's documentation take as it is.

Every test in this folder is marked ``browser`` (``-m browser`` selects them,
``-m "not browser"`` leaves them out).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from console.app import create_app
from demo import generate
from ledger.settings import Settings
from tests.browser.support import Served, Watch, find_chromium, run_axe, serving, shoot
from tests.conftest import NOW, SECRET, FixedClock, open_ledger

HERE = Path(__file__).resolve().parent
DEMO_FAMILIES = 12
DEMO_SEED = 1
DEMO_UNTIL = datetime(2026, 11, 24, tzinfo=timezone.utc)
"""The demo history ends the day the tests' clock starts (``tests.conftest.NOW``)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("browser") / "data", jwt_secret=SECRET,
                        console_demo_sign_in=True)  # as `ledger serve --demo` serves it
    generate(settings, families=DEMO_FAMILIES, seed=DEMO_SEED, until=DEMO_UNTIL)
    ledger = open_ledger(settings, FixedClock(NOW))
    try:
        teams = sorted({ledger.family(f, copy=False).team for f in ledger.family_ids()})
        with serving(create_app(ledger)) as base_url:
            yield Served(base_url, ledger, settings.signing_key(), teams)
    finally:
        ledger.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = find_chromium()
    if chromium is None:
        reason = ("no Chromium: install Debian's (apt-get install chromium) or name one in LEDGER_CHROMIUM"
                  + (f" (LEDGER_CHROMIUM={os.environ['LEDGER_CHROMIUM']} is not a file)"
                     if os.environ.get("LEDGER_CHROMIUM") else ""))
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests must run in CI: {reason}")
        pytest.skip(reason)
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            yield launched
        finally:
            launched.close()
    finally:
        playwright.stop()
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # none: as it should be
        return
    pytest.fail("Playwright left its event loop running on this thread: a later test calling asyncio.run would "
                "fail")


@pytest.fixture
def page_watch() -> Watch:
    return Watch()


@pytest.fixture
def page(browser: Browser, served: Served, page_watch: Watch) -> Iterator[Page]:
    context = browser.new_context(base_url=served.base_url, viewport={"width": 1280, "height": 800},
                                  locale="en-GB", timezone_id="Europe/London")
    page_watch.attach(context)
    try:
        yield context.new_page()
    finally:
        context.close()
    problems = page_watch.problems()
    if problems:
        pytest.fail("the page did what a page must not:\n" + "\n".join(f"- {p}" for p in problems), pytrace=False)


@pytest.fixture
def shot(page: Page) -> Callable[[str], list[Path]]:
    return lambda name: shoot(page, name)


@pytest.fixture
def axe(page: Page) -> Callable[..., list[dict[str, Any]]]:
    return lambda **kw: run_axe(page, **kw)
