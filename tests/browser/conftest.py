"""Fixtures for the browser tests: Debian's Chromium driven by Playwright against real hypercorn.

The tests use Playwright's sync API: plain sync tests and fixtures, which pytest-asyncio
(asyncio_mode=auto) leaves alone. While sync Playwright is open, its event loop counts as
running in this thread, so no asyncio test could run meanwhile: the browser is therefore
package-scoped (closed before pytest leaves tests/browser/), and every test here must be sync.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.support.browser import RECORD_CSP_VIOLATIONS, ColorScheme, OpenPage, screenshot
from tests.support.servers import TEST_SECRET_KEY, LiveServer, running_server
from tests.support.services import IN_CI

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; `playwright install` is never needed
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # git-ignored
ACTION_TIMEOUT_MS = 10_000  # fail fast: every page here answers in milliseconds

CALL_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember the test's own outcome, so page fixtures know at teardown whether it failed."""
    report = yield
    if report.when == "call":
        item.stash[CALL_REPORT] = report
    return report


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium package to run browser tests"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: browser tests must run, not skip)", pytrace=False)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="package")
def live_server(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real two-worker server for all browser tests (accounts are unique per test).

    It asks for the browser first, so a missing Chromium skips before any server starts.
    """
    with running_server(
        tmp_path_factory.mktemp("browser-instance"), secret_key=TEST_SECRET_KEY
    ) as server:
        yield server


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Screenshots (and the HTML of failed tests) of this run only: the folder is emptied first."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


def artifact_stem(node: pytest.Item) -> str:
    return re.sub(r"[^\w.-]+", "_", node.name).strip("_")


@pytest.fixture
def open_page(
    browser: Browser, live_server: LiveServer, artifacts_dir: Path, request: pytest.FixtureRequest
) -> Iterator[OpenPage]:
    """Open a page in a fresh browser context (its own cookies) on the live server.

    At teardown every page left open is screenshotted; if the test failed, its HTML is kept too.
    """
    contexts: list[BrowserContext] = []

    def open_(
        *,
        width: int = 1280,
        height: int = 800,
        color_scheme: ColorScheme = "light",
        javascript: bool = True,
    ) -> Page:
        context = browser.new_context(
            base_url=live_server.base_url,
            viewport={"width": width, "height": height},
            color_scheme=color_scheme,
            java_script_enabled=javascript,
        )
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.add_init_script(script=RECORD_CSP_VIOLATIONS)
        contexts.append(context)
        return context.new_page()

    yield open_
    report = request.node.stash.get(CALL_REPORT, None)
    failed = report is not None and report.failed
    stem = artifact_stem(request.node) + ("-FAILED" if failed else "")
    pages = [page for context in contexts for page in context.pages]
    for index, page in enumerate(pages):
        name = stem if len(pages) == 1 else f"{stem}-{index + 1}"
        try:
            screenshot(page, artifacts_dir / f"{name}.png")
            if failed:
                (artifacts_dir / f"{name}.html").write_text(page.content(), encoding="utf-8")
        except PlaywrightError as error:  # a crashed page must not hide the test's own failure
            (artifacts_dir / f"{name}.error.txt").write_text(str(error), encoding="utf-8")
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page: OpenPage) -> Page:
    """A 1280×800 light-scheme page with no cookies yet."""
    return open_page()


@pytest.fixture
def snap(artifacts_dir: Path, request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """Save a full-page screenshot of one step of a journey into the artifacts folder."""

    def snap_(page: Page, step: str) -> Path:
        return screenshot(page, artifacts_dir / f"{artifact_stem(request.node)}--{step}.png")

    return snap_
