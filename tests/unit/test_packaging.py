"""The package as users install it: typed (py.typed shipped, mypy-clean where the CLI and the
plugins live), an SPDX license, classifiers and a changelog."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

#: Files made mypy-clean (the whole package follows; CI will run `mypy safeguards`).
TYPED = [
    "safeguards/cli.py",
    "safeguards/wiring.py",
    "safeguards/sqlite_tx.py",
    "safeguards/logs.py",
    "safeguards/errors.py",
    "safeguards/testing/pytest_plugin.py",
    "safeguards/testing/pytest_localstack.py",
]


def test_py_typed_is_shipped() -> None:
    assert (ROOT / "safeguards" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["safeguards"]
    assert "Typing :: Typed" in PYPROJECT["project"]["classifiers"]


def test_license_is_an_spdx_expression_and_metadata_is_complete() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "Apache-2.0"
    assert not any(c.startswith("License ::") for c in project["classifiers"])  # PEP 639: not with SPDX
    assert any(c.startswith("Programming Language :: Python :: 3.11") for c in project["classifiers"])
    build = PYPROJECT["build-system"]["requires"]
    assert any(r.startswith("setuptools>=") and int(r.split(">=")[1].split(".")[0]) >= 77 for r in build)


def test_changelog_has_an_unreleased_section() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text and "exit" in text


def test_mypy_is_configured_and_clean_on_the_typed_files() -> None:
    assert PYPROJECT["tool"]["mypy"]["files"] == ["safeguards"]
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--follow-imports=silent", *TYPED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
