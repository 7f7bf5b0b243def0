"""Lint and type checking (ADR 0027) are part of the test run: ``ruff check .`` and
``mypy`` (which files, and how strictly, are in pyproject.toml) find nothing.

They run from this test's own interpreter (the project's virtualenv), in the repository
root, so the README's one test command runs them with no other step; what they find is
the failure message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_ruff_finds_nothing() -> None:
    found = run("ruff", "check", "--no-fix", "--output-format", "concise", ".")
    assert found.returncode == 0, f"`ruff check .` found:\n{found.stdout}{found.stderr}"


@pytest.mark.slow  # about 35 s from nothing, 2 s with mypy's cache
def test_mypy_finds_nothing() -> None:
    found = run("mypy")
    assert found.returncode == 0, f"`mypy` found:\n{found.stdout}{found.stderr}"
