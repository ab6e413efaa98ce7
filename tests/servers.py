"""Real servers, started on free ports: S3-protocol ones over HTTP, moto (behaviour) and
`rclone serve s3` (which checks signatures and expiry); SMTP (aiosmtpd); a webhook
receiver; Podpass itself, in its own process or in a thread of the test's."""

import asyncio
import base64
import mailbox
import socket
import subprocess
import sys
import threading
import time
from argparse import ArgumentParser
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import uvicorn
from aiosmtpd.handlers import Mailbox
from starlette.types import ASGIApp

BIN = Path(sys.executable).parent
ACCESS_KEY = "podpass-test"
SECRET_KEY = "podpass-test-secret-key-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {port} within {timeout}s")


@contextmanager
def running(
    command: Sequence[str],
    port: int,
    *,
    env: dict[str, str] | None = None,
    stderr: IO[bytes] | int = subprocess.DEVNULL,
) -> Iterator[str]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    with running([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], port) as url:
        yield url


@contextmanager
def rclone_server(root: Path) -> Iterator[str]:
    port = free_port()
    command = [
        str(BIN / "rclone"),
        "serve",
        "s3",
        "--addr",
        f"127.0.0.1:{port}",
        "--auth-key",
        f"{ACCESS_KEY},{SECRET_KEY}",
        "--config",
        "/dev/null",
        str(root),
    ]
    with running(command, port) as url:
        yield url


@contextmanager
def podpass_server(
    env: dict[str, str], *, workers: int = 1, log: Path | None = None
) -> Iterator[str]:
    """The real app under uvicorn, in its own process(es), on a free port."""
    port = free_port()
    env = env | {"PODPASS_BASE_URL": f"http://127.0.0.1:{port}"}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "app.main:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    if log is None:
        with running(command, port, env=env) as url:
            yield url
    else:
        with log.open("wb") as output, running(command, port, env=env, stderr=output) as url:
            yield url


class StallingMailbox(Mailbox):
    """A Maildir server that hangs: it keeps the first `answered` messages and says so,
    then keeps the next one and never answers, nor anything after it. Run by aiosmtpd as
    `--class tests.servers.StallingMailbox <maildir> <answered>`."""

    def __init__(self, mail_dir: Path, answered: int) -> None:
        super().__init__(mail_dir)
        self.answered = answered

    @classmethod
    def from_cli(cls, parser: ArgumentParser, *args: str) -> "StallingMailbox":
        return cls(Path(args[0]), int(args[1]))

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer: str = await super().handle_DATA(server, session, envelope)
        self.answered -= 1
        if self.answered < 0:
            await asyncio.Event().wait()  # kept, never acknowledged
        return answer


class SmtpServer:
    """aiosmtpd (the real SMTP protocol, without TLS or login) in its own process, on one
    port for the whole test so it can go down and come back; it keeps each message it
    accepts in a Maildir. `stall_after`: the server hangs after that many (StallingMailbox)."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, *, stall_after: int | None = None) -> None:
        handler = ["aiosmtpd.handlers.Mailbox", str(self.maildir)]
        if stall_after is not None:
            handler = ["tests.servers.StallingMailbox", str(self.maildir), str(stall_after)]
        command = [
            sys.executable,
            "-m",
            "aiosmtpd",
            "--nosetuid",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--class",
            *handler,
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._process = process
        wait_for_port(self.port, process)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def raw(self) -> list[bytes]:
        """Every message received so far, as it came over the wire."""
        if not self.maildir.exists():
            return []
        box = mailbox.Maildir(self.maildir, create=False)
        return [box.get_bytes(key) for key in box.iterkeys()]

    def messages(self) -> list[EmailMessage]:
        """Every message received so far, parsed with the modern email API."""
        parser = BytesParser(policy=policy.default)
        found = []
        for raw in self.raw():
            parsed = parser.parsebytes(raw)
            assert isinstance(parsed, EmailMessage)
            found.append(parsed)
        return found


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int


class WebhookReceiver:
    """A publisher's endpoint: a real HTTP server on a thread that answers each POST with
    what `answer` returns for it (status, body; a 3xx body is its Location), and keeps
    what it received."""

    def __init__(self, answer: Callable[[dict[str, str], bytes], tuple[int, bytes]]) -> None:
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {key.lower(): value for key, value in self.headers.items()}
                status, reply = answer(headers, body)
                receiver.received.append(Received(headers, body, status))
                self.send_response(status)
                if 300 <= status < 400:  # a redirect's body names where to
                    self.send_header("Location", reply.decode())
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class FeedHost:
    """A publisher's previous host: a real HTTP server on a thread that serves `files`
    (path -> body, content type) behind basic auth. `stall_at`: the Nth audio download
    sends half its body and then hangs (so a test can kill the importer mid-download);
    `failures`: how many times each path answers 503 before it works; `requested`: every
    path asked for, in order (a path that is not there answers 404)."""

    def __init__(self, files: dict[str, tuple[bytes, str]], user: str, password: str) -> None:
        self.files = files
        self.stall_at: int | None = None
        self.failures: dict[str, int] = {}
        self.audio_requests = 0
        self.requested: list[str] = []
        self.stalled = threading.Event()
        self._release = threading.Event()
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path = self.path.split("?")[0]
                host.requested.append(path)
                if path not in host.files or host.failures.get(path, 0) > 0:
                    if path in host.failures:
                        host.failures[path] -= 1
                    self.send_response(404 if path not in host.files else 503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, content_type = host.files[path]
                stall = False
                if content_type == "audio/mpeg":
                    host.audio_requests += 1
                    stall = host.audio_requests == host.stall_at
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if stall:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    host.stalled.set()
                    host._release.wait(60)
                    return
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str, *, user: str = "", password: str = "") -> str:
        credentials = f"{user}:{password}@" if user else ""
        return f"http://{credentials}127.0.0.1:{self.port}{path}"

    def __enter__(self) -> "FeedHost":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def until(condition: Callable[[], bool]) -> bool:
    """Whether the server, in its own thread, brings `condition` about within 20 s."""
    done = threading.Event()
    for _ in range(400):
        if condition():
            done.set()
            break
        done.wait(0.05)
    return done.is_set()


@contextmanager
def uvicorn_thread(app: ASGIApp, *, port: int | None = None, **options: str) -> Iterator[str]:
    """uvicorn as `make run` starts it (uvloop, httptools unless told), in this process,
    so a test can count its open files, or serve an app whose clock it moves; on `port`
    when the app must know its own address first."""
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=10,
        **options,  # type: ignore[arg-type]
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        assert until(lambda: server.started or not thread.is_alive())
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive(), "uvicorn did not stop"
