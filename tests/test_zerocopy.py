"""Local files sent with sendfile (app/media/zerocopy.py), under a real uvicorn: every byte
arrives, in ranges, to slow listeners and after a buffered response; a listener who leaves
midway, or a file that shrinks, costs an open file nothing and logs no error; where uvicorn
cannot (h11), files are read in chunks as before, and the log says so."""

import contextlib
import logging
import os
import random
import socket
import struct
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi import FastAPI, Request, Response
from starlette.types import Receive, Scope, Send

from app.core.config import Settings
from app.media.files import Audio, Files
from app.media.zerocopy import Sent, ZeroCopy, file_part
from app.storage.local import LocalStorage
from tests.conftest import MP3, create_show, live_podpass, subscribe
from tests.servers import until, uvicorn_thread

SIZE = 8 * 1024 * 1024 + 12345  # more than loopback's socket buffers hold at once
BLOB = 3 * 1024 * 1024


@pytest.fixture(scope="module")
def data() -> bytes:
    return random.Random(11).randbytes(SIZE)


def file_app(root: Path, sent: Sent) -> FastAPI:
    """Podpass's way of answering a local file, behind the middleware, and two routes that
    make trouble: a big response written through the transport, and a file that shrinks
    once its headers are decided."""
    app = FastAPI()
    app.add_middleware(ZeroCopy, sent=sent)

    def answer(request: Request, name: str) -> Response:
        audio = Audio(name, "audio/mpeg", (root / name).stat().st_size, "T", datetime.now(UTC))
        return Files(request, LocalStorage(root)).audio(audio, "mp3", private=True)

    @app.api_route("/big.mp3", methods=["GET", "HEAD"])
    def big(request: Request) -> Response:
        return answer(request, "big.mp3")

    @app.get("/shrinking.mp3")
    def shrinking(request: Request) -> Response:
        response = answer(request, "shrinking.mp3")
        os.truncate(root / "shrinking.mp3", 1000)
        return response

    @app.get("/blob")
    def blob() -> Response:
        return Response(b"b" * BLOB, media_type="application/octet-stream")

    return app


@pytest.fixture(params=["uvloop", "asyncio"])
def served(
    tmp_path: Path, data: bytes, request: pytest.FixtureRequest
) -> Iterator[tuple[str, Sent, Path]]:
    """The same app under each event loop uvicorn may run."""
    (tmp_path / "big.mp3").write_bytes(data)
    sent = Sent()
    with uvicorn_thread(file_app(tmp_path, sent), loop=request.param) as url:
        yield url, sent, tmp_path


def open_files() -> list[str]:
    """What this process's descriptors point at: "socket:[inode]", a path, ..."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # closed meanwhile
            found.append(os.readlink(f"/proc/self/fd/{fd}"))
    return found


def server_end_held(sock: socket.socket) -> int:
    """How many of this process's descriptors hold the server's end of `sock`'s connection:
    2 while the server waits for room to send (uvicorn's, and its duplicate)."""
    ours, theirs = sock.getsockname()[1], sock.getpeername()[1]
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote, inode = (line.split()[i] for i in (1, 2, 9))
        if int(local.rsplit(":", 1)[1], 16) == theirs and int(remote.rsplit(":", 1)[1], 16) == ours:
            return open_files().count(f"socket:[{inode}]")
    return 0


def read_response(sock: socket.socket, buffered: bytearray) -> tuple[bytes, bytes]:
    """One HTTP/1.1 response with a Content-Length: its head and body."""
    while b"\r\n\r\n" not in buffered:
        buffered += sock.recv(65536) or b""
    head, _, rest = bytes(buffered).partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    buffered[:] = rest
    while len(buffered) < length:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed after {len(buffered)} of {length} bytes"
        buffered += chunk
    body = bytes(buffered[:length])
    buffered[:] = buffered[length:]
    return head, body


def slow_socket(url: str) -> socket.socket:
    """A connection whose receive buffer is small, so the server's sends fill up."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    host, port = url.removeprefix("http://").split(":")
    sock.connect((host, int(port)))
    return sock


def test_files_and_ranges_go_out_with_sendfile(served: tuple[str, Sent, Path], data: bytes) -> None:
    url, sent, _ = served
    with httpx.Client(base_url=url, timeout=30) as client:
        whole = client.get("/big.mp3")
        assert (whole.status_code, whole.content) == (200, data)
        assert whole.headers["content-length"] == str(SIZE)
        ranges = [(0, 1024 * 1024), (1000, 5_000_001), (SIZE - 300_000, SIZE)]
        for start, end in ranges:
            part = client.get("/big.mp3", headers={"Range": f"bytes={start}-{end - 1}"})
            assert (part.status_code, part.content) == (206, data[start:end])
            assert part.headers["content-range"] == f"bytes {start}-{end - 1}/{SIZE}"
            assert part.headers["content-type"] == "audio/mpeg"
            assert part.headers["etag"] == whole.headers["etag"]
        suffix = client.get("/big.mp3", headers={"Range": "bytes=-400000"})
        assert (suffix.status_code, suffix.content) == (206, data[-400000:])
        stale = client.get("/big.mp3", headers={"Range": "bytes=0-", "If-Range": '"old"'})
        assert (stale.status_code, stale.content) == (200, data)  # the whole file, changed
        assert until(lambda: sent.files == 3 + len(ranges))
        # Not sent with sendfile: a HEAD, a short range (read in the request's thread) and
        # several ranges (Starlette's multipart body).
        head = client.head("/big.mp3")
        assert (head.status_code, head.headers["content-length"], head.content) == (
            200,
            str(SIZE),
            b"",
        )
        probe = client.get("/big.mp3", headers={"Range": "bytes=0-1"})
        assert (probe.status_code, probe.content) == (206, data[:2])
        several = client.get("/big.mp3", headers={"Range": "bytes=0-1,400000-400009"})
        assert several.status_code == 206
        assert data[400000:400010] in several.content
        assert until(lambda: sent.files == 3 + len(ranges))


def test_a_slow_listener_gets_every_byte_after_a_buffered_answer(
    served: tuple[str, Sent, Path], data: bytes
) -> None:
    """Two requests at once on one connection that reads slowly: the first answer (3 MB
    written through the transport) is still in its buffer when the file's headers are
    written, and the file must wait for both before it goes out."""
    url, sent, _ = served
    with slow_socket(url) as sock:
        sock.sendall(
            b"GET /blob HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /big.mp3 HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /big.mp3 HTTP/1.1\r\nHost: t\r\nRange: bytes=100-2000099\r\n\r\n"
        )
        buffered = bytearray()
        assert read_response(sock, buffered)[1] == b"b" * BLOB
        head, body = read_response(sock, buffered)
        assert head.startswith(b"HTTP/1.1 200")
        assert body == data
        head, body = read_response(sock, buffered)
        assert head.startswith(b"HTTP/1.1 206")
        assert body == data[100:2000100]
        assert not buffered
    assert until(lambda: sent.files == 2)


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_the_file_waits_for_what_the_transport_still_holds(
    tmp_path: Path, data: bytes, loop: str
) -> None:
    """A body begun in bytes (more than the socket takes: the rest waits in the transport's
    buffer) and ended from the file: the file's bytes go out after them."""
    (tmp_path / "big.mp3").write_bytes(data)
    # Twice the most a socket's send buffer grows to here: the rest must wait its turn.
    most = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    prelude = b"p" * (2 * most)

    async def prelude_then_file(scope: Scope, receive: Receive, send: Send) -> None:
        length = str(len(prelude) + SIZE).encode()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", length)]}
        )
        await send({"type": "http.response.body", "body": prelude, "more_body": True})
        await send(file_part(str(tmp_path / "big.mp3"), 0, SIZE))

    sent = Sent()
    with (
        uvicorn_thread(ZeroCopy(prelude_then_file, sent), loop=loop) as url,
        slow_socket(url) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        head, body = read_response(sock, bytearray())
    assert head.startswith(b"HTTP/1.1 200")
    assert body == prelude + data
    assert until(lambda: sent.files == 1)


@pytest.mark.parametrize("wanted", ["", "Range: bytes=1000-\r\n"])
def test_a_listener_who_leaves_midway_costs_nothing(
    served: tuple[str, Sent, Path], data: bytes, caplog: pytest.LogCaptureFixture, wanted: str
) -> None:
    """The whole file (pathsend) or a range (in FileResponse's task that watches for the
    listener leaving)."""
    url, sent, _ = served
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/big.mp3", headers={"Range": "bytes=0-0"}).status_code == 206
        before = len(open_files())
        for _ in range(3):
            with slow_socket(url) as sock:
                sock.sendall(f"GET /big.mp3 HTTP/1.1\r\nHost: t\r\n{wanted}\r\n".encode())
                assert until(lambda: server_end_held(sock) == 2), "the server never waited"
                # Gone without reading: a reset, as from an app that skips ahead.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # The server finds out as it is woken; then its duplicate of the socket, the
            # socket and the file are closed.
            assert until(lambda: len(open_files()) <= before), open_files()
        assert client.get("/big.mp3").content == data  # and it carries on
    assert until(lambda: sent.files == 1)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_file_that_shrinks_ends_the_connection_not_the_server(
    served: tuple[str, Sent, Path], data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    url, sent, root = served
    (root / "shrinking.mp3").write_bytes(data)
    with httpx.Client(base_url=url, timeout=30) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/shrinking.mp3")  # promised SIZE bytes, has 1000
        assert client.get("/big.mp3", headers={"Range": "bytes=5-9"}).content == data[5:10]
    assert sent.files == 0
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    said = [r.getMessage() for r in caplog.records if r.name == "app.media.zerocopy"]
    assert said == [
        f"{root / 'shrinking.mp3'} ended {SIZE - 1000} bytes short of what its headers said"
    ]


def test_without_httptools_files_are_read_in_chunks_and_the_log_says_so(
    tmp_path: Path, data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "big.mp3").write_bytes(data)
    sent = Sent()
    caplog.set_level(logging.INFO, logger="app.media.zerocopy")
    with (
        uvicorn_thread(file_app(tmp_path, sent), http="h11") as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        assert client.get("/big.mp3").content == data
        part = client.get("/big.mp3", headers={"Range": "bytes=1000-2000999"})
        assert part.content == data[1000:2001000]
    assert sent.files == 0
    told = [r.getMessage() for r in caplog.records if r.name == "app.media.zerocopy"]
    assert len(told) == 1
    assert "read and sent in chunks" in told[0]


def test_podpass_sends_audio_with_sendfile(settings: Settings) -> None:
    """The app as uvicorn serves it: the middleware is outermost, where `receive` is
    uvicorn's, and healthz counts what went out with sendfile."""
    with live_podpass(settings) as (url, admin):
        create_show(admin)
        files = {"audio": ("a.mp3", MP3.read_bytes(), "audio/mpeg")}
        admin.post(
            "/admin/shows/sharp-tech/episodes", data={"publish": "true"}, files=files
        ).raise_for_status()
        feeds = subscribe(admin, "zero@example.com", "sharp-tech")["feeds"]  # type: ignore[arg-type]
        feed = httpx.get(feeds[0]["feed_url"], timeout=30).text
        enclosure = feed.split('<enclosure url="', 1)[1].split('"', 1)[0]
        audio = httpx.get(enclosure, timeout=30)
        assert (audio.status_code, audio.content) == (200, MP3.read_bytes())
        assert httpx.get(f"{url}/healthz", timeout=30).json()["files_sendfile"] == 1
