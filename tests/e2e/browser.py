"""Headless Debian Chromium driven over the Chrome DevTools Protocol, for browser tests.

No browser is ever downloaded: the tests use /usr/bin/chromium (``.ci/install-browser``
installs it) and skip when it is missing, unless CROWDVOTE_REQUIRE_SERVICES=1. The protocol
is spoken directly over a websocket (the ``websockets`` test extra), so there is no driver
binary or driver package to keep in step with the browser.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.sync.client import ClientConnection, connect

CHROMIUM = Path(os.environ.get("CROWDVOTE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# The flags known to work on a machine with no internet (python-svc.md, "Known to work").
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--remote-debugging-port=0",
]
START_SECONDS = 20
JsonObject = dict[str, Any]


class BrowserError(AssertionError):
    """The browser answered a command with an error, or a wait ran out."""


class Page:
    """One tab: commands, the events it sent, and every URL it requested."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.replies: dict[int, JsonObject] = {}
        self.events: list[JsonObject] = []
        self.console: list[str] = []
        self.lock = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        try:
            for raw in self.socket:
                message = json.loads(raw)
                with self.lock:
                    if "id" in message:
                        self.replies[message["id"]] = message
                    else:
                        self.events.append(message)
                        if message["method"] == "Runtime.consoleAPICalled":
                            args = message["params"]["args"]
                            self.console.append(
                                " ".join(str(a.get("value", a.get("description"))) for a in args)
                            )
                        elif message["method"] == "Runtime.exceptionThrown":
                            self.console.append(
                                json.dumps(message["params"]["exceptionDetails"])[:2000]
                            )
                    self.lock.notify_all()
        except Exception:  # noqa: BLE001 - the socket closes when the browser quits
            with self.lock:
                self.lock.notify_all()

    def send(self, method: str, timeout: float = 15, **params: Any) -> JsonObject:
        """Run a protocol command and return its result."""
        message_id = next(self.ids)
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        with self.lock:
            while message_id not in self.replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BrowserError(f"{method}: no answer within {timeout}s")
                self.lock.wait(left)
            reply = self.replies.pop(message_id)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        result: JsonObject = reply.get("result", {})
        return result

    def evaluate(self, expression: str, timeout: float = 15, context: int | None = None) -> Any:
        """Return the JSON value of a JavaScript expression (awaited if it is a promise).

        ``context`` is an execution context id (a frame's, see :meth:`frame_context`).
        """
        params: JsonObject = {"expression": expression, "returnByValue": True}
        params["awaitPromise"] = True
        if context is not None:
            params["contextId"] = context
        result = self.send("Runtime.evaluate", timeout=timeout, **params)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} threw {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(
        self,
        expression: str,
        timeout: float = 20,
        what: str = "",
        show: str = "",
        context: int | None = None,
    ) -> Any:
        """Poll a JavaScript expression until it is truthy; return its value.

        On timeout the error names ``what`` was awaited, the page's console, the value of
        the ``show`` expression if given, and a screenshot is saved as ``timeout.png``.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression, context=context)
            if value:
                return value
            if time.monotonic() > deadline:
                shown = f"; {show} = {self.evaluate(show)!r}" if show else ""
                self.screenshot("timeout.png", settle=False)
                raise BrowserError(
                    f"waited {timeout}s for {what or expression}; console: {self.console[-10:]}"
                    f"{shown}"
                )
            time.sleep(0.1)

    def frame_context(self, origin: str, timeout: float = 20) -> int:
        """Return the id of the newest main-world context of a frame from ``origin``."""
        event = self.wait_event(
            lambda e: (
                e["method"] == "Runtime.executionContextCreated"
                and e["params"]["context"]["origin"] == origin
                and e["params"]["context"].get("auxData", {}).get("isDefault", False)
            ),
            timeout,
        )
        return int(event["params"]["context"]["id"])

    def navigate(self, url: str, timeout: float = 20) -> None:
        """Open ``url`` and return once its load event fired."""
        with self.lock:
            seen = len(self.events)
        self.send("Page.navigate", url=url)
        self.wait_event(lambda e: e["method"] == "Page.loadEventFired", timeout, start=seen)

    def wait_event(
        self, match: Callable[[JsonObject], bool], timeout: float = 20, start: int = 0
    ) -> JsonObject:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                for event in self.events[start:]:
                    if match(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BrowserError(f"no matching event within {timeout}s")
                self.lock.wait(left)

    def requested_urls(self) -> list[str]:
        """Every URL the page asked for (documents, scripts, styles, fetches, websockets)."""
        with self.lock:
            events = list(self.events)
        urls = []
        for event in events:
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
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def settle(self, timeout: float = 5) -> None:
        """Wait until no CSS transition or finite animation is running."""
        self.wait_for(
            "document.getAnimations().every((a) => a.playState !== 'running'"
            " || a.effect.getTiming().iterations === Infinity)",
            timeout,
            what="animations to finish",
        )

    def screenshot(self, name: str, full_page: bool = False, settle: bool = True) -> Path:
        """Save a PNG of the page, once it is still, under test-artifacts/; return its path."""
        if settle:
            self.settle()
        params: JsonObject = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", timeout=30, **params)["data"]
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        path.write_bytes(base64.b64decode(data))
        return path


class Chromium:
    """A headless Chromium with a fresh profile; ``page()`` gives its first tab."""

    def __init__(self, *flags: str) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="crowdvote-chromium-"))
        self.log = (self.profile / "chromium.log").open("wb")
        self.process = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, *flags, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.port = self._debugging_port()
        self.connections = contextlib.ExitStack()

    def _debugging_port(self) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrowserError(f"chromium exited: {self.log_text()}")
            if marker.exists() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            time.sleep(0.05)
        raise BrowserError(f"chromium did not start within {START_SECONDS}s: {self.log_text()}")

    def log_text(self) -> str:
        self.log.flush()
        return (self.profile / "chromium.log").read_text(errors="replace")[-4000:]

    def page(self) -> Page:
        """Attach to the first tab with Page, Runtime and Network events on."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=10) as r:
            targets = json.load(r)
        target = next(t for t in targets if t["type"] == "page")
        socket = connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        page = Page(self.connections.enter_context(socket))
        for domain in ("Page", "Runtime", "Network"):
            page.send(f"{domain}.enable")
        return page

    def quit(self) -> None:
        self.connections.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


def chromium_missing() -> str | None:
    """Return why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: run .ci/install-browser"
    return None


def require_chromium() -> None:
    """Skip the test if Chromium is missing, or fail under CROWDVOTE_REQUIRE_SERVICES=1."""
    problem = chromium_missing()
    if problem:
        if os.environ.get("CROWDVOTE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"CROWDVOTE_REQUIRE_SERVICES=1 but {problem}", pytrace=False)
        print(f"skipping browser test: {problem}")
        pytest.skip(problem)


@pytest.fixture
def page() -> Iterator[Page]:
    """A tab of a fresh headless Chromium, quit after the test whatever happens."""
    require_chromium()
    browser = Chromium()
    try:
        yield browser.page()
    finally:
        browser.quit()


@pytest.fixture
def framing_page() -> Iterator[Page]:
    """A tab whose cross-site iframes run in its own process, so tests can look inside."""
    require_chromium()
    browser = Chromium("--disable-site-isolation-trials")
    try:
        yield browser.page()
    finally:
        browser.quit()
