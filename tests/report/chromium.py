"""Headless Chromium driven through the DevTools protocol, for looking at a generated
page the way a person would: open it, watch the console and the network, click, take a
screenshot. The protocol runs over a websocket; the small client below (RFC 6455, text
frames only) keeps the tests free of extra dependencies."""

import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.request
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
]


def find_chromium() -> str | None:
    """Path of a Chromium (or Chrome) binary on PATH, or None."""
    names = ("chromium", "chromium-browser", "google-chrome")
    return next((path for name in names if (path := shutil.which(name))), None)


def install_chromium() -> str:
    """Try ``apt-get update && apt-get install -y chromium``; return what went wrong, or
    an empty string when it worked."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available to install it"
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            return f"`{' '.join(command)}` took more than 15 minutes"
        if done.returncode:
            return f"`{' '.join(command)}` failed: {done.stderr.strip()[-300:]}"
    return ""


class DevTools:
    """A DevTools protocol session over one websocket: ``call`` a method and get its
    result; every event that arrives meanwhile is kept, in order, in ``events``."""

    def __init__(self, url: str, timeout: float = 60.0):
        host, port, path = _split_ws_url(url)
        self.socket = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.socket.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += self._receive(1)
        if b" 101 " not in response.split(b"\r\n")[0]:
            raise ConnectionError(f"websocket handshake refused: {response[:200]!r}")
        self.next_id = 0
        self.events: list[dict] = []

    def _receive(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.socket.recv(size - len(data))
            if not chunk:
                raise ConnectionError("DevTools closed the websocket")
            data += chunk
        return data

    def _send_text(self, text: str) -> None:
        """One masked text frame (clients must mask, RFC 6455 §5.3)."""
        payload, mask = text.encode(), os.urandom(4)
        size = len(payload)
        header = struct.pack("!B", 0x81)
        if size < 126:
            header += struct.pack("!B", 0x80 | size)
        elif size < 1 << 16:
            header += struct.pack("!BH", 0x80 | 126, size)
        else:
            header += struct.pack("!BQ", 0x80 | 127, size)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self.socket.sendall(header + mask + masked)

    def _read_message(self) -> dict:
        """The next whole JSON message (reassembling fragmented frames)."""
        message = b""
        while True:
            first, second = self._receive(2)
            size = second & 0x7F
            if size == 126:
                size = struct.unpack("!H", self._receive(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", self._receive(8))[0]
            payload = self._receive(size)
            opcode = first & 0x0F
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the websocket")
            if opcode in (0x0, 0x1):
                message += payload
                if first & 0x80:
                    return json.loads(message)

    def call(self, method: str, **params) -> dict:
        """Send ``method`` and wait for its result; raise RuntimeError on a protocol error."""
        self.next_id += 1
        self._send_text(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = self._read_message()
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for(self, event: str, since: int = 0, timeout: float = 60.0) -> dict:
        """The params of the first event named ``event`` at or after ``events[since]``,
        reading messages until it arrives (it may have come while a call was waiting)."""
        deadline = time.monotonic() + timeout
        index = since
        while True:
            for message in self.events[index:]:
                if message.get("method") == event:
                    return message["params"]
            index = len(self.events)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {event} within {timeout} s")
            self.socket.settimeout(remaining)
            try:
                self.events.append(self._read_message())
            except TimeoutError:
                raise TimeoutError(f"no {event} within {timeout} s") from None
            finally:
                self.socket.settimeout(timeout)

    def open(self, url: str, timeout: float = 60.0) -> None:
        """Navigate the page to ``url`` and wait for its load event (the Page domain must
        be enabled for the event to arrive)."""
        before = len(self.events)
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired", since=before, timeout=timeout)

    def evaluate(self, expression: str):
        """The value of a JavaScript ``expression`` evaluated in the page."""
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        self.socket.close()


def _split_ws_url(url: str) -> tuple[str, int, str]:
    """``ws://host:port/path`` → (host, port, path)."""
    rest = url.removeprefix("ws://")
    address, _, path = rest.partition("/")
    host, _, port = address.rpartition(":")
    return host, int(port), "/" + path


class Browser:
    """A headless Chromium process with one blank page open for DevTools.

    Use as a context manager: ``with Browser(binary, tmp_path, (1280, 2400)) as page:``
    yields a DevTools session on the page; leaving stops the browser.
    """

    def __init__(self, binary: str, profile: Path, window: tuple[int, int]):
        self.command = [
            binary,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={window[0]},{window[1]}",
            "about:blank",
        ]
        self.profile = profile
        self.process: subprocess.Popen | None = None
        self.page: DevTools | None = None

    def __enter__(self) -> DevTools:
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.__exit__()
                raise RuntimeError(f"Chromium did not start: {' '.join(self.command)}")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as reply:
            targets = json.load(reply)
        page = next(t for t in targets if t["type"] == "page")
        self.page = DevTools(page["webSocketDebuggerUrl"])
        return self.page

    def __exit__(self, *_exc) -> None:
        if self.page is not None:
            self.page.close()
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the browser and its helpers
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
