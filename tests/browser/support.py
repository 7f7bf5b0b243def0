"""What the browser tests' fixtures are made of (``tests/browser/conftest.py``): the app
served on a port of this machine, the Chromium to drive, a page's watch over what it
fetched and logged, screenshots at two widths and the axe-core gate.

Kept apart from the fixtures so that each piece reads, and fails, on its own: the
fixtures only put them together for a session and for a test.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]  # ships no py.typed
from fastapi import FastAPI
from playwright.sync_api import BrowserContext, ConsoleMessage, Error, Page, Route

from aggregates.vocabulary import TEAM_ROLES
from ledger.application import Ledger
from ledger.tokens import mint

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
"""Where ``shot`` writes (``test-output/`` is ignored by git)."""
WIDTHS = {1280: 800, 390: 844}
"""The widths every screenshot is taken at, with the window's height: a laptop's browser,
and a phone held upright (an iPhone 12 to 15's CSS width)."""
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
GATED = ("serious", "critical")
"""The axe-core impacts that fail a page: what blocks or seriously hinders someone using
a screen reader, a keyboard or magnification; minor and moderate ones are shown, not gated."""


# --- the app, served -------------------------------------------------------------------------


@dataclass
class Served:
    """The console app served by uvicorn on 127.0.0.1, on its own thread."""

    base_url: str
    ledger: Ledger
    signing_key: str
    teams: list[str]
    """The teams holding the demo families (sorted): the ones a team role's token can name
    and see something."""

    def token(self, role: str, team: str | None = None, sub: str | None = None) -> str:
        """A bearer token for ``role`` (and ``team``, which a team role must name), signed
        with the served ledger's key and valid from now (tokens are checked against the
        real time, not the ledger's fixed clock)."""
        if role in TEAM_ROLES and not team:
            raise ValueError(f"a {role} belongs to a team: name one of {', '.join(self.teams)}")
        return mint(self.signing_key, sub=sub or f"{role}-browser", role=role, team=team)


@contextmanager
def serving(app: FastAPI, *, timeout: float = 30.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free port of 127.0.0.1, on a thread of its own;
    the base URL once it answers ``/health``; stopped (``should_exit``) on leaving.

    Its own thread because Playwright's sync API refuses to run inside an asyncio loop,
    and uvicorn's loop must not be the test's. The socket is bound here and handed to
    uvicorn, so no other process can take the port between choosing and listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base_url + "/health", thread, timeout)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


def _wait_for(url: str, thread: threading.Thread, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError(f"uvicorn stopped before answering {url} (its log is above)")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError) as e:
            last = e
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s: {last}")


# --- the browser -----------------------------------------------------------------------------


def find_chromium() -> str | None:
    """Debian's Chromium (``LEDGER_CHROMIUM`` names another): the ``chromium`` package,
    which ``.ci/run`` installs. Playwright's own downloaded browser is not used (ADR 0028)."""
    named = os.environ.get("LEDGER_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


# --- a page under watch ----------------------------------------------------------------------


@dataclass
class Watch:
    """What a browser context did that a page must not: requests that would have left
    this machine (aborted before they went), console errors and uncaught exceptions."""

    offsite: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self, context: BrowserContext) -> None:
        context.route("**/*", self._route)
        context.on("console", self._console)
        context.on("weberror", lambda e: self.errors.append(f"uncaught: {e.error}"))

    def _route(self, route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            self.offsite.append(url)
            route.abort("blockedbyclient")

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            self.errors.append(f"console: {message.text}" + (f" ({where})" if where else ""))

    def expect_errors(self, contains: str) -> list[str]:
        """Take the errors a test caused on purpose (Chromium logs a page answered 404 or
        403 as a failed load): those holding ``contains``, which must be at least one;
        any others still fail the test."""
        taken = [e for e in self.errors if contains in e]
        assert taken, f"no console error contains {contains!r}: {self.errors}"
        self.errors[:] = [e for e in self.errors if contains not in e]
        return taken

    def problems(self) -> list[str]:
        found = [f"a request left 127.0.0.1 (aborted): {url}" for url in self.offsite]
        return found + self.errors


def shoot(page: Page, name: str) -> list[Path]:
    """Full-page screenshots of what ``page`` shows, at 1280 and 390 px wide, as
    ``test-output/screenshots/<name>-<width>.png``; the window's size is put back after."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    before = page.viewport_size
    written = []
    try:
        for width, height in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_load_state()
            path = SCREENSHOTS / f"{name}-{width}.png"
            page.screenshot(path=path, full_page=True, animations="disabled")
            written.append(path)
    finally:
        if before is not None:
            page.set_viewport_size(before)
    return written


def run_axe(page: Page, gated: Collection[str] = GATED) -> list[dict[str, Any]]:
    """axe-core's violations on what ``page`` shows now, each printed (id, impact, help,
    the nodes' targets); fails if any has an impact in ``gated`` (serious or critical:
    the console's own pages are held to that). ``gated=()`` only reports."""
    try:
        violations: list[dict[str, Any]] = Axe().run(page).response["violations"]
    except Error as e:
        raise AssertionError(f"axe-core could not run on {page.url}: {e}") from e
    report = describe(violations)
    if report:
        print(f"axe-core on {page.url}:\n{report}")
    failing = [v for v in violations if v.get("impact") in gated]
    assert not failing, f"axe-core: {len(failing)} {' or '.join(gated)} violation(s) on {page.url}:\n" + describe(
        failing)
    return violations


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v.get('impact')}): {v.get('help')}")
        lines += [f"    {' '.join(str(t) for t in node.get('target', []))}" for node in v.get("nodes", [])]
    return "\n".join(lines)
