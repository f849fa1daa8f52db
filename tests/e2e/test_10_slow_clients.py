"""Scenario 10: slow clients against the compose stack's reverse proxy.

deploy/nginx/prism.conf.template, the file compose mounts into the official nginx image,
runs here under Debian's nginx in front of the suite's gunicorn (2 workers x 4 threads).
100 connections announce a 100,000-byte body and then send it a byte at a time, or send
nothing at all. nginx buffers every request whole before it reaches gunicorn, so `/healthz`
and a signed delivery through it still answer within a second.

Without the proxy the same 100 connections go straight to gunicorn: each one that reaches a
worker thread holds it while the body trickles in, and `/healthz` waits for a free thread
that never comes (the issue measured a minute). The last test shows that figure, bounded by
its timeout, then closes the connections and waits for gunicorn to recover.
"""

import contextlib
import shutil
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import unavailable
from tests.e2e.helpers import Stack, diff_or_fixture, needle, pull_request_event, sha
from tests.e2e.processes import Nginx, nginx_binary, wait_until

pytestmark = pytest.mark.e2e

REPO = "e2e-slow/widgets"
SLOW_CLIENTS = 100
ANNOUNCED_BODY = 100_000
DEADLINE = 1.0  # seconds, per request through the proxy


@pytest.fixture(scope="module")
def nginx(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    if nginx_binary() is None:
        unavailable("no nginx binary (apt-get install nginx-light); .ci/run installs it")
    if shutil.which("openssl") is None:
        unavailable("no openssl binary to make the proxy's test certificate")
    upstream = stack.prism.url.removeprefix("http://")
    proxy = Nginx(upstream, Path(tmp_path_factory.mktemp("nginx")))
    try:
        proxy.start()
        yield proxy
    finally:
        proxy.stop()


class SlowClients:
    """Connections that announce a body and trickle it, one byte per connection per
    `interval`, or stay silent after their headers. Closed on exit, whatever happened."""

    def __init__(self, host: str, port: int, *, tls: bool, count: int = SLOW_CLIENTS) -> None:
        self.host, self.port, self.tls, self.count = host, port, tls, count
        self.sockets: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=5)
        if self.tls:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            sock = context.wrap_socket(sock)
        sock.sendall(
            (
                "POST /webhooks/github/ HTTP/1.1\r\n"
                f"Host: {self.host}:{self.port}\r\n"
                "Content-Type: application/json\r\n"
                "X-GitHub-Event: pull_request\r\n"
                f"Content-Length: {ANNOUNCED_BODY}\r\n\r\n"
            ).encode()
        )
        return sock

    def __enter__(self) -> "SlowClients":
        started = time.monotonic()
        for _ in range(self.count):
            self.sockets.append(self._connect())
        self.opened_in = time.monotonic() - started
        self.thread.start()
        return self

    def _trickle(self) -> None:
        # Even-numbered connections send one byte a second; odd ones never send anything.
        while not self.stopping.wait(1.0):
            for sock in self.sockets[::2]:
                with contextlib.suppress(OSError):
                    sock.send(b"{")

    def still_open(self) -> int:
        """Connections the server has not closed (a closed one reads EOF or fails)."""
        open_ = 0
        for sock in self.sockets:
            try:
                sock.setblocking(False)
                if sock.recv(1):  # an answer (nginx's 408 or 400) before it closes
                    open_ += 1
            except (BlockingIOError, ssl.SSLWantReadError):
                open_ += 1
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    sock.setblocking(True)
        return open_

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()


def timed(call) -> tuple[float, requests.Response]:
    started = time.monotonic()
    response = call()
    return time.monotonic() - started, response


def test_healthz_and_a_signed_delivery_answer_within_a_second_through_the_proxy(
    stack: Stack, nginx: Nginx
):
    verify = str(nginx.certificate)
    head = sha("e2e-slow opened")
    stack.github.open_pull(
        REPO, 1, head_sha=head, diff=diff_or_fixture("01-plain-modification"), title=needle(REPO, 1)
    )
    body = pull_request_event("opened", REPO, 1, head, needle(REPO, 1))

    with SlowClients("127.0.0.1", nginx.https_port, tls=True) as slow:
        time.sleep(2)  # a few trickled bytes, and time for any of them to reach gunicorn
        health_seconds, health = timed(
            lambda: requests.get(f"{nginx.url}/healthz", timeout=5, verify=verify)
        )
        delivery_seconds, delivery = timed(
            lambda: stack.deliver(
                body,
                delivery_id=str(uuid.uuid4()),
                url=f"{nginx.url}/webhooks/github/",
                verify=verify,
                timeout=5,
            )
        )
        # The slow clients were still connected (held by nginx, not dropped) meanwhile.
        still_open = slow.still_open()
        print(
            f"\nthrough nginx with {SLOW_CLIENTS} slow clients (opened in {slow.opened_in:.2f}s, "
            f"{still_open} still open): /healthz {health.status_code} in "
            f"{health_seconds * 1000:.0f} ms, signed delivery {delivery.status_code} in "
            f"{delivery_seconds * 1000:.0f} ms"
        )

    assert health.status_code == 200, health.text
    assert health_seconds < DEADLINE
    assert delivery.status_code == 202, delivery.text
    assert delivery_seconds < DEADLINE
    assert still_open >= SLOW_CLIENTS * 0.9
    # The delivery went through nginx to the worker like any other: reviewed and posted.
    [row] = stack.wait_for_reviews(REPO, 1)
    assert row["status"] == "completed", row["error"]


def test_the_proxy_refuses_bodies_over_githubs_cap_and_redirects_plain_http(
    nginx: Nginx,
):
    verify = str(nginx.certificate)
    response = requests.post(
        f"{nginx.url}/webhooks/github/",
        data=b"x" * (25 * 1024 * 1024 + 1),
        timeout=30,
        verify=verify,
    )
    assert response.status_code == 413
    # Plain HTTP on the proxy only redirects to HTTPS.
    plain = requests.get(
        f"http://127.0.0.1:{nginx.http_port}/healthz", timeout=5, allow_redirects=False
    )
    assert plain.status_code == 301
    assert plain.headers["Location"].startswith("https://")


def test_without_the_proxy_the_same_slow_clients_stall_gunicorn(stack: Stack):
    """The figure the proxy is for; gunicorn must recover once the connections close."""
    host, port = stack.prism.url.removeprefix("http://").split(":")
    with SlowClients(host, int(port), tls=False):
        time.sleep(2)
        started = time.monotonic()
        try:
            status = str(requests.get(f"{stack.prism.url}/healthz", timeout=3).status_code)
        except requests.RequestException as exc:
            status = f"no answer ({type(exc).__name__})"
        waited = time.monotonic() - started
    print(
        f"\ngunicorn directly, {SLOW_CLIENTS} slow clients: /healthz {status} after {waited:.1f}s"
    )
    wait_until(stack.prism.healthy, timeout=30, what="gunicorn to recover after the slow clients")
