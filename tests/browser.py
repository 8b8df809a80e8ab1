"""Browser tests' one way to start a browser: Debian's Chromium (/usr/bin/chromium, installed by
tools/install-debian-packages.sh) driven by Playwright, headless, without a browser download and
without any network of its own. The report page's test uses it; the crew console's will too.

`chromium()` (and the mark `needs_chromium`) skips the test, saying why, only when the binary
is absent. Screenshots go under ARTIFACTS (`test-artifacts/` at the repository root,
git-ignored).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from streetwatch.services.process import free_port

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
A4_VIEWPORT = {"width": 900, "height": 1273}  # A4's proportions, wide enough for the page
SKIP_REASON = f"{CHROMIUM} is absent (tools/install-debian-packages.sh installs chromium)"
# Mark a browser test with it to skip before its fixtures start servers.
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON)


@contextmanager
def chromium() -> Iterator:
    """A launched Playwright Browser (closed afterwards); skips when Chromium is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(SKIP_REASON)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=list(LAUNCH_ARGS))
        try:
            yield browser
        finally:
            browser.close()


def artifact(name: str) -> Path:
    """A path under ARTIFACTS for a test's screenshot or saved page (the folder is made)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


@contextmanager
def served(app) -> Iterator[str]:  # noqa: ANN001 - an ASGI app
    """`app` under uvicorn on a free loopback port, in a thread: its base URL (stopped after)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(),
                                           log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
