"""Local files sent with `sendfile(2)`: from the page cache to the socket, with no copy
through Python. The only module that reaches into uvicorn.

ASGI's answer is the `http.response.pathsend` extension, which uvicorn does not offer. This
middleware offers it, and a ranged variant (`podpass.sendfile`, for the single ranges of
app/feeds/router.py), when the request came through uvicorn's httptools protocol over plain
TCP. It finds uvicorn's request cycle behind `receive`, lets it write the status and headers
as usual, waits until the transport has written out everything it holds, sends the body
from the file into the connection's socket, and tells the cycle how much went out (its
`expected_content_length`), so uvicorn ends the response, and keeps the connection alive,
as if it had written the body itself. Anywhere else (another server or protocol, TLS, the
test client) neither extension is offered, and `FileResponse` reads the file in chunks.

That leans on three attributes of uvicorn's cycle (`transport`, `expected_content_length`,
`disconnected`); tests/test_zerocopy.py runs the real uvicorn and fails if they change. The
copy runs on the event loop, as nginx's does without `aio`: a file not in the page cache
blocks the worker while the disk reads a step (1 MiB) of it.

`python -m bench.files`: read in chunks and written through the event loop, a 1 MB range
went at 0.19 of an empty 200 and a full GET of a 50 MB file at 0.42 of nginx's `sendfile`.
With this, in docs/performance.md's run: 0.65 of the empty 200, and 1.02 of nginx.
"""

import asyncio
import logging
import os
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

PATHSEND = "http.response.pathsend"  # {"path"}: the whole file (ASGI's extension)
SENDFILE = "podpass.sendfile"  # {"path", "offset", "count"}: part of it

STEP = 1024 * 1024  # sent in one go, before the event loop's other work has a turn

log = logging.getLogger(__name__)


def file_part(path: str, offset: int, count: int) -> Message:
    """The message that sends `count` bytes of the file from `offset` as the body."""
    return {"type": SENDFILE, "path": path, "offset": offset, "count": count}


@dataclass
class Sent:
    """This worker's file bodies sent with sendfile (GET /healthz `files_sendfile`), and
    whether it has said that it cannot."""

    files: int = 0
    told: bool = False


class ZeroCopy:
    """Outermost of the app's middleware: `receive` is still uvicorn's own here (Starlette's
    error middleware, outside it, wraps only `send`)."""

    def __init__(self, app: ASGIApp, sent: Sent) -> None:
        self.app = app
        self.sent = sent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cycle = _cycle(receive) if scope["type"] == "http" else None
        if cycle is None:
            if scope["type"] == "http" and not self.sent.told:
                self.sent.told = True
                log.info(
                    "Local files are read and sent in chunks: sendfile needs uvicorn's "
                    "httptools protocol over plain TCP (no --ssl-*, no --http h11)."
                )
            await self.app(scope, receive, send)
            return
        scope["extensions"] = (scope.get("extensions") or {}) | {PATHSEND: {}, SENDFILE: {}}

        async def send_files(message: Message) -> None:
            kind = message["type"]
            if kind == PATHSEND:
                # The whole file: as many bytes as the Content-Length the cycle was given.
                whole = cycle.expected_content_length
                done = await _send_file(cycle, send, message["path"], 0, whole)
            elif kind == SENDFILE:
                part = message["offset"], message["count"]
                done = await _send_file(cycle, send, message["path"], *part)
            else:
                await send(message)
                return
            self.sent.files += done

        await self.app(scope, receive, send_files)


def _cycle(receive: Receive) -> RequestResponseCycle | None:
    cycle = getattr(receive, "__self__", None)
    if not isinstance(cycle, RequestResponseCycle):
        return None
    transport = cycle.transport
    if transport.get_extra_info("ssl_object") is not None:
        return None
    if transport.get_extra_info("socket") is None:
        return None
    return cycle


async def _send_file(
    cycle: RequestResponseCycle, send: Send, path: str, offset: int, count: int
) -> bool:
    """The body: `count` bytes of the file from `offset`, after the headers already sent.
    False if they could not all be sent."""
    if cycle.disconnected:  # uvicorn dropped the headers too
        return False
    if (
        cycle.scope["method"] == "HEAD"
        or cycle.chunked_encoding
        or count != cycle.expected_content_length
    ):
        raise RuntimeError(f"{count} bytes of {path} do not fit this response's headers")
    transport = cycle.transport
    sock = transport.get_extra_info("socket").fileno()
    try:
        file = os.open(path, os.O_RDONLY)
    except OSError as exc:
        log.warning("%s could not be opened to send it: %s", path, exc.strerror)
        _abandon(cycle)
        return False
    waiter = _Writable(asyncio.get_running_loop(), sock)
    try:
        while count:
            if transport.is_closing():
                raise ConnectionResetError
            if transport.get_write_buffer_size():  # the headers, or something written since
                await waiter.wait()
                await asyncio.sleep(0)  # the transport writes out on the same wake-up
                continue
            try:
                sent = os.sendfile(sock, file, offset, min(count, STEP))
            except BlockingIOError:
                await waiter.wait()
                continue
            if sent == 0:
                log.warning("%s ended %d bytes short of what its headers said", path, count)
                raise EOFError
            offset += sent
            count -= sent
            cycle.expected_content_length -= sent
            if count:
                await asyncio.sleep(0)  # a fast reader: the worker's other requests go on
    except (OSError, EOFError):  # the listener left, or the file shrank
        _abandon(cycle)
        return False
    finally:
        waiter.close()
        os.close(file)
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    return True


def _abandon(cycle: RequestResponseCycle) -> None:
    """The body cannot be finished: close the connection, as uvicorn does when it finds its
    client gone, and mark the cycle so, which ends it without an error logged."""
    cycle.transport.close()
    cycle.disconnected = True


class _Writable:
    """Waits until the socket takes more. The transport owns the socket's descriptor and the
    event loop refuses a second watcher on it, so this watches a duplicate of it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: int) -> None:
        self.loop = loop
        self.sock = sock
        self.duplicate: int | None = None

    async def wait(self) -> None:
        if self.duplicate is None:
            self.duplicate = os.dup(self.sock)
        woken = self.loop.create_future()
        self.loop.add_writer(self.duplicate, _wake, woken)
        try:
            await woken
        finally:
            self.loop.remove_writer(self.duplicate)

    def close(self) -> None:
        if self.duplicate is not None:
            os.close(self.duplicate)


def _wake(future: "asyncio.Future[None]") -> None:
    if not future.done():
        future.set_result(None)
