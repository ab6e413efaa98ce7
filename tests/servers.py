"""Real S3-protocol servers over HTTP, started on free ports: moto (behaviour) and
`rclone serve s3` (which checks signatures and expiry)."""

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

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
