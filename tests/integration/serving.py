"""A real `rag serve` process on a free loopback port, and a raw HTTP client that sends bursts at once.

Shared by the load and fault tests: every wait here is bounded, every address is 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import ROOT, free_port

READY_SECONDS = 180  # a cold start is ~11 s alone; two cores shared with other work take longer


def copy_store(source: Path, target: Path) -> Path:
    """A private copy of an ingested store, so a server's writes and locks touch no other test's store."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("writer.lock"))
    return target


class Server:
    """`python -m rag.cli serve` with RAG_* settings from `env`; its log goes to a file (a pipe would fill up)."""

    def __init__(self, store_dir: Path, log_path: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {
            **os.environ,
            "RAG_STORE_DIR": str(store_dir),
            "RAG_PORT": str(self.port),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            **env,
        }
        self.process: subprocess.Popen | None = None

    def start(self, wrapper: list[str] | None = None) -> Server:
        """Start the process; `wrapper` is a command that ends by running the command appended to it."""
        command = [*(wrapper or []), sys.executable, "-m", "rag.cli", "serve"]
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_until(self, ready: bool = True, seconds: float = READY_SECONDS) -> httpx.Response:
        """The first /ready answer (503 or 200 as asked); fails if the process ends or time runs out."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited {self.process.returncode}:\n{self.log()[-3000:]}"
            try:
                response = httpx.get(f"{self.url}/ready", timeout=5)
                if not ready or response.status_code == 200:
                    return response
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"server not {'ready' if ready else 'up'} in {seconds} s:\n{self.log()[-3000:]}")

    def health(self) -> dict:
        return httpx.get(f"{self.url}/health", timeout=5).json()

    def wait_for_model(self, busy: bool, seconds: float = 60, every: float = 0.02) -> float:
        """Seconds until /health says the model is busy (or idle with no question in flight). One kept-alive
        connection: polling must not take the cores the model needs."""
        started = time.monotonic()
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while time.monotonic() - started < seconds:
                health = client.get("/health").json()
                idle = not health["model_busy"] and not health["questions_in_flight"]
                if health["model_busy"] if busy else idle:
                    return time.monotonic() - started
                time.sleep(every)
        raise AssertionError(f"the model did not get {'busy' if busy else 'free'} in {seconds} s")

    def ask(self, question: str, timeout: float = 180, **fields) -> httpx.Response:
        return httpx.post(f"{self.url}/v1/ask", json={"question": question, **fields}, timeout=timeout)

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, seconds: float = 60) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"server still running {seconds} s after signal {sig}") from None


@contextmanager
def serving(store: Path, folder: Path, **env: str) -> Iterator[Server]:
    """A ready server on a private copy of `store` (its log in `folder`), stopped afterwards."""
    server = Server(copy_store(store, folder / "var"), folder / "serve.log", **env).start()
    try:
        server.wait_until(ready=True)
        yield server
    finally:
        server.stop()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float  # from the request's last byte sent to the response's last byte read

    def json(self):
        return json.loads(self.body)


def burst(port: int, path: str, bodies: list[dict], seconds: float = 300) -> list[Reply | None]:
    """Send every request at once on its own connection (connected first, then all written in one tight loop)
    and read the replies as they come; None for a connection that got no complete reply in time."""
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in bodies]
    requests = []
    for body in bodies:
        data = json.dumps(body).encode()
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        requests.append(head.encode() + f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
    selector = selectors.DefaultSelector()
    sent_at: dict[int, float] = {}
    received: dict[int, bytearray] = {}
    for n, (sock, request) in enumerate(zip(sockets, requests, strict=True)):
        sock.sendall(request)
        sent_at[n] = time.perf_counter()
        sock.setblocking(False)
        received[n] = bytearray()
        selector.register(sock, selectors.EVENT_READ, n)
    replies: list[Reply | None] = [None] * len(bodies)
    open_count, deadline = len(bodies), time.monotonic() + seconds
    while open_count and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            n = key.data
            chunk = key.fileobj.recv(65536)
            if chunk:
                received[n].extend(chunk)
                continue
            # the server closed the connection (Connection: close): the reply is complete
            replies[n] = _parse(bytes(received[n]), time.perf_counter() - sent_at[n])
            selector.unregister(key.fileobj)
            key.fileobj.close()
            open_count -= 1
    for key in list(selector.get_map().values()):
        key.fileobj.close()
    return replies


def _parse(raw: bytes, seconds: float) -> Reply | None:
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head:
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return Reply(int(lines[0].split()[1]), headers, body, seconds)

