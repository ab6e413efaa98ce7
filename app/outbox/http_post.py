"""POSTing a webhook delivery: the only module that imports urllib.request (the standard
library's client is enough for one small POST, and the app has no HTTP client at run time)."""

import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import IO, Any

READ_BYTES = 2048  # of an answer's body: enough for its excerpt


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer came (refused, timed out, TLS)
    body: str
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a new place to POST to: urllib would follow it with a
    GET, and an endpoint's URL must not lead the delivery somewhere else."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _read(response: Any) -> str:
    return bytes(response.read(READ_BYTES)).decode("utf-8", "replace")


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Answer:
    if not url.startswith(("http://", "https://")):  # urllib also opens file:// and ftp://
        return Answer(None, "", f"not an http(s) URL: {url}")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (checked above)
    try:
        with _opener.open(request, timeout=timeout) as response:
            return Answer(response.status, _read(response), None)
    except urllib.error.HTTPError as exc:  # any answer that is not 2xx
        with exc:
            return Answer(exc.code, _read(exc), None)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return Answer(None, "", f"{type(reason).__name__}: {reason}")
