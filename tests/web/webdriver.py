"""A minimal W3C WebDriver client for Debian's ``chromium-driver`` (no Selenium needed).

``chromedriver`` speaks the W3C WebDriver protocol over HTTP; the browser tests need a
handful of its commands (open a URL, find elements, type, click, run JavaScript, take a
screenshot), sent here with httpx. :func:`start_browser` starts ``chromedriver`` on a
free loopback port and a headless Chromium with the flags the tests run under:
``--headless --no-sandbox --disable-gpu`` (WebGL through SwiftShader, software) and the
flags that keep Chromium off the network (no QUIC, no component updates, no sync, no
background networking, a throw-away profile).

:func:`require_browser` skips a test with a plain reason when chromium or chromedriver is
missing — except under ``CI=true``, where it fails (``.ci/run`` installs them), as the
dciodvfy tests of tests/io do.
"""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from _services import skip_or_fail

#: the key WebDriver uses for element references
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # software WebGL (SwiftShader) without a GPU; newer Chromium asks for it explicitly
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    "--window-size=1400,1000",
    "--force-device-scale-factor=1",
)


def _binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_browser() -> tuple[str, str]:
    """(chromium, chromedriver) paths; skip (fail under CI=true) when either is missing."""
    chromium = _binary("chromium", "chromium-browser", "google-chrome")
    driver = _binary("chromedriver")
    if chromium and driver:
        return chromium, driver
    reason = (
        "headless Chromium and chromedriver are needed for the browser tests "
        "(Debian: apt-get install chromium chromium-driver)"
    )
    skip_or_fail(reason, ".ci/run installs them")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebDriverError(RuntimeError):
    pass


class Browser:
    """One WebDriver session: the few commands the tests use."""

    def __init__(self, endpoint: str, session: str, client: httpx.Client) -> None:
        self.endpoint, self.session, self.http = endpoint, session, client

    def _cmd(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.endpoint}/session/{self.session}{path}"
        res = self.http.request(method, url, json=body if method == "POST" else None)
        value = res.json().get("value")
        if res.status_code >= 400:
            raise WebDriverError(f"{method} {path}: {value}")
        return value

    def get(self, url: str) -> None:
        self._cmd("POST", "/url", {"url": url})

    @property
    def url(self) -> str:
        return str(self._cmd("GET", "/url"))

    def find(self, css: str) -> str:
        found = self._cmd("POST", "/element", {"using": "css selector", "value": css})
        return str(found[ELEMENT])

    def type(self, css: str, text: str) -> None:
        self._cmd("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css: str) -> None:
        self._cmd("POST", f"/element/{self.find(css)}/click", {})

    def text(self, css: str) -> str:
        return str(self._cmd("GET", f"/element/{self.find(css)}/text"))

    def js(self, script: str, *args: Any) -> Any:
        """Run ``script`` (a function body; ``arguments`` holds ``args``); async if it awaits."""
        return self._cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def js_async(self, script: str, *args: Any) -> Any:
        """Run ``script``; it calls ``arguments[arguments.length - 1](value)`` when done."""
        return self._cmd("POST", "/execute/async", {"script": script, "args": list(args)})

    def wait(self, script: str, timeout_s: float = 30.0, *args: Any) -> Any:
        """Poll the JavaScript expression ``script`` until it is truthy; its value."""
        end = time.monotonic() + timeout_s
        while True:
            value = self.js(f"return ({script});", *args)
            if value:
                return value
            if time.monotonic() > end:
                raise WebDriverError(f"timed out after {timeout_s} s waiting for {script}")
            time.sleep(0.1)

    def screenshot(self) -> bytes:
        """A PNG of the viewport."""
        return base64.b64decode(self._cmd("GET", "/screenshot"))

    def console_errors(self) -> list[str]:
        entries = self.http.post(
            f"{self.endpoint}/session/{self.session}/se/log", json={"type": "browser"}
        )
        if entries.status_code >= 400:
            return []
        return [e["message"] for e in entries.json().get("value", []) if e["level"] == "SEVERE"]


@contextmanager
def start_browser() -> Iterator[Browser]:
    """chromedriver on a free loopback port, one headless Chromium session."""
    chromium, driver = require_browser()
    port = free_port()
    profile = Path(tempfile.mkdtemp(prefix="sstrkit-chromium-"))
    proc = subprocess.Popen(
        [driver, f"--port={port}", "--allowed-ips=127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    client = httpx.Client(timeout=120.0)
    try:
        for _ in range(200):
            try:
                if client.get(f"{endpoint}/status").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"],
                    },
                    "goog:loggingPrefs": {"browser": "ALL"},
                }
            }
        }
        res = client.post(f"{endpoint}/session", json=caps)
        if res.status_code >= 400:
            raise WebDriverError(f"could not start Chromium: {res.json().get('value')}")
        browser = Browser(endpoint, res.json()["value"]["sessionId"], client)
        browser._cmd("POST", "/timeouts", {"script": 60000, "pageLoad": 60000})
        try:
            yield browser
        finally:
            client.delete(f"{endpoint}/session/{browser.session}")
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)
