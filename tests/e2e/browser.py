"""Headless Debian Chromium driven by Selenium through Debian's ChromeDriver, for browser tests.

Nothing is ever downloaded: the browser and the driver are /usr/bin/chromium and
/usr/bin/chromedriver (``.ci/install-browser`` installs both from apt), named explicitly so
Selenium Manager is never asked to find or fetch one. Tests skip, saying why, when either is
missing, and fail instead under CROWDVOTE_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from tests.e2e.conftest import skip_or_fail

CHROMIUM = Path(os.environ.get("CROWDVOTE_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CROWDVOTE_CHROMEDRIVER", "/usr/bin/chromedriver"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Headless, as root in a container, and quiet: no update checks or other background traffic.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
]


class BrowserError(AssertionError):
    """A wait in the browser ran out."""


class Page:
    """The browser's tab: scripts run in it, and every URL it requested is kept."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self.driver = driver
        self.network: list[dict[str, Any]] = []
        self.console: list[str] = []

    def navigate(self, url: str) -> None:
        """Open ``url`` and return once its load event fired."""
        self.driver.get(url)

    def evaluate(self, expression: str) -> Any:
        """Return the value of a JavaScript expression (awaited if it is a promise)."""
        return self.driver.execute_script(f"return ({expression});")

    def wait_for(self, expression: str, timeout: float = 20, what: str = "", show: str = "") -> Any:
        """Poll a JavaScript expression until it is truthy; return its value.

        On timeout the error names ``what`` was awaited, the page's console, the value of
        the ``show`` expression if given, and a screenshot is saved as ``timeout.png``.
        """
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(
                lambda _: self.evaluate(expression)
            )
        except TimeoutException:
            shown = f"; {show} = {self.evaluate(show)!r}" if show else ""
            self.screenshot("timeout.png", settle=False)
            raise BrowserError(
                f"waited {timeout}s for {what or expression};"
                f" console: {self.console_messages()[-10:]}{shown}"
            ) from None

    @contextlib.contextmanager
    def inside_frame(self, selector: str) -> Iterator[None]:
        """Run scripts inside the iframe ``selector`` (any origin), then back in the page."""
        self.driver.switch_to.frame(self.driver.find_element(By.CSS_SELECTOR, selector))
        try:
            yield
        finally:
            self.driver.switch_to.default_content()

    def console_messages(self) -> list[str]:
        self.console.extend(entry["message"] for entry in self.driver.get_log("browser"))
        return self.console

    def requested_urls(self) -> list[str]:
        """Every URL the page asked for (documents, scripts, styles, fetches, websockets)."""
        for entry in self.driver.get_log("performance"):
            self.network.append(json.loads(entry["message"])["message"])
        urls = []
        for event in self.network:
            if event["method"] == "Network.requestWillBeSent":
                urls.append(event["params"]["request"]["url"])
            elif event["method"] == "Network.webSocketCreated":
                urls.append(event["params"]["url"])
        return urls

    def off_host(self, host: str) -> list[str]:
        """Requested URLs that left ``host`` (data: and about: URLs stay in the page)."""
        return [
            url
            for url in self.requested_urls()
            if urlsplit(url).scheme not in {"data", "about", "blob"}
            and urlsplit(url).hostname != host
        ]

    def resize(self, width: int, height: int) -> None:
        """Make the viewport exactly ``width`` by ``height`` CSS pixels.

        A headless window's viewport is smaller than the window and has a minimum width, so
        the size is set by device-metrics emulation rather than ``set_window_size``.
        """
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def settle(self, timeout: float = 5) -> None:
        """Wait until no CSS transition or finite animation is running."""
        self.wait_for(
            "document.getAnimations().every((a) => a.playState !== 'running'"
            " || a.effect.getTiming().iterations === Infinity)",
            timeout,
            what="animations to finish",
        )

    def screenshot(self, name: str, settle: bool = True) -> Path:
        """Save a PNG of the viewport, once it is still, under test-artifacts/; return its path."""
        if settle:
            self.settle()
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        path.write_bytes(self.driver.get_screenshot_as_png())
        return path


def chromium_missing() -> str | None:
    """Return why the browser tests cannot run here, or None."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not binary.exists():
            return f"{binary} is missing: run .ci/install-browser"
    return None


def require_chromium() -> None:
    """Skip the test if Chromium or ChromeDriver is missing, or fail under
    CROWDVOTE_REQUIRE_SERVICES=1."""
    problem = chromium_missing()
    if problem:
        skip_or_fail(problem, test="browser test")


def chromium() -> webdriver.Chrome:
    """A fresh headless Chromium (new profile) that logs its console and network traffic."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch) -> Iterator[Page]:
    """The tab of a fresh headless Chromium, quit after the test whatever happens."""
    require_chromium()
    # A driver path in the Service already means Selenium Manager is skipped; offline mode
    # keeps it from downloading should a later Selenium consult it anyway.
    monkeypatch.setenv("SE_OFFLINE", "true")
    driver = chromium()
    try:
        yield Page(driver)
    finally:
        driver.quit()
