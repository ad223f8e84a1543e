"""End-to-end test of the demo chat (examples/demo) in headless Chromium.

The demo server runs for real on 127.0.0.1 (``python examples/demo/app.py``, the
command ``scripts/demo.sh`` runs); ``chat.js`` drives the system's Chromium with
playwright-core through two pages (two browser contexts): both join, see each
other in the "who is here" list with their transport, post, see each other's
messages (user text stays text), and one leaves. The page's own switches select
forced polling and engine.io-client 3.

Screenshots of both pages go to ``tests/demo/artifacts/`` (git-ignored; set
``DEMO_ARTIFACTS_DIR`` to put them elsewhere): ``<mode>-alice.png`` and
``<mode>-bob.png``, plus ``<mode>-<who>-failed.png`` when a step fails. The failure
message names them, and the step, and what the pages showed.

Needs Chromium (``/usr/bin/chromium``, or ``DEMO_CHROMIUM``) and the npm packages of
``tests/demo`` and ``examples/demo``: ``scripts/setup.sh`` installs all three.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.interop.harness import RunningServer

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DEMO_DIR = REPO_ROOT / "examples" / "demo"
DRIVER = HERE / "chat.js"
WAIT_TIMEOUT_MS = 15_000  # every wait on a page condition in chat.js
RUN_TIMEOUT = 120.0  # the whole browser run

MODES: dict[str, dict[str, bool]] = {
    "websocket": {"polling": False, "eio3": False},
    "polling": {"polling": True, "eio3": False},
    "eio3-websocket": {"polling": False, "eio3": True},
    "eio3-polling": {"polling": True, "eio3": True},
}


def artifacts_dir() -> Path:
    """Where the screenshots go (created)."""
    folder = Path(os.environ.get("DEMO_ARTIFACTS_DIR") or HERE / "artifacts").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium binary, or a failure that says how to install it."""
    candidates = [os.environ.get("DEMO_CHROMIUM", "")]
    candidates += [shutil.which(name) or "" for name in ("chromium", "chromium-browser")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "no Chromium found (tried $DEMO_CHROMIUM, chromium, chromium-browser): run "
        "scripts/setup.sh as root, or `apt-get install chromium`, or set DEMO_CHROMIUM",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary, once the npm packages of the test and of the page are installed."""
    needed = [
        HERE / "node_modules/playwright-core/package.json",
        DEMO_DIR / "node_modules/engine.io-client/dist/engine.io.min.js",
        DEMO_DIR / "node_modules/engine.io-client-v3/engine.io.js",
    ]
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        pytest.fail(f"missing {missing}: run scripts/setup.sh", pytrace=False)
    binary = shutil.which("node")
    if binary is None:
        pytest.fail("node is not on PATH (Node.js >= 18 is needed)", pytrace=False)
    return binary


def run_chat(node: str, chromium: str, server: RunningServer, mode: str) -> dict[str, Any]:
    """Run chat.js for one mode; return its JSON report."""
    folder = artifacts_dir()
    for old in folder.glob(f"{mode}-*.png"):  # from an earlier run
        old.unlink()
    config = {
        "url": server.url + "/",
        "chromium": chromium,
        "artifacts": str(folder),
        "prefix": mode,
        "timeoutMs": WAIT_TIMEOUT_MS,
        **MODES[mode],
    }
    try:
        done = subprocess.run(
            [node, str(DRIVER), json.dumps(config)],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"chat.js did not finish within {RUN_TIMEOUT} s; stderr: {exc.stderr!r}\n"
                    f"server log:\n{server.log_tail()}", pytrace=False)
    lines = done.stdout.strip().splitlines()
    try:
        report: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        pytest.fail(f"chat.js exited {done.returncode} without a report\nstdout: {done.stdout}\n"
                    f"stderr: {done.stderr}", pytrace=False)
    report["returncode"] = done.returncode
    report["stderr"] = done.stderr
    return report


@pytest.mark.parametrize("mode", list(MODES))
def test_two_people_chat_in_chromium(
    mode: str, node: str, chromium: str, demo_server: RunningServer
) -> None:
    report = run_chat(node, chromium, demo_server, mode)
    print(f"\n{mode}: screenshots {report['screenshots']}")
    if not report["ok"] or report["returncode"] != 0:
        pages = json.dumps(report.get("pages"), indent=2)
        pytest.fail(
            f"demo chat ({mode}) failed at step {report.get('step')!r}: {report.get('error')}\n"
            f"screenshots: {report['screenshots']}\npages: {pages}\n"
            f"chat.js stderr: {report['stderr']}\nserver log:\n{demo_server.log_tail()}",
            pytrace=False,
        )
    assert len(report["screenshots"]) == 2
    for shot in report["screenshots"]:
        assert Path(shot).stat().st_size > 1000, shot
