"""Domain errors carry their HTTP status; one handler renders every error as JSON."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)


class AppError(Exception):
    status_code = 400
    error = "bad_request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(AppError):
    status_code = 422
    error = "invalid_input"


class Unauthorized(AppError):
    status_code = 401
    error = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    error = "forbidden"


class NotFound(AppError):
    status_code = 404
    error = "not_found"


class Gone(AppError):
    status_code = 410
    error = "gone"


class Conflict(AppError):
    status_code = 409
    error = "conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    error = "payload_too_large"


class UnsupportedMedia(AppError):
    status_code = 415
    error = "unsupported_media"


class StorageUnavailable(AppError):
    status_code = 503
    error = "storage_unavailable"


def _render(
    status_code: int, error: str, detail: object, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "detail": detail}, status_code=status_code, headers=headers
    )


def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return _render(exc.status_code, exc.error, exc.detail, headers)


TOO_LARGE = "The request body is larger than this server accepts (PODPASS_MAX_UPLOAD_MB)."


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 413:
        return _render(413, PayloadTooLarge.error, TOO_LARGE)
    return _render(exc.status_code, "http_error", exc.detail, dict(exc.headers or {}))


class LimitBodySize:
    """Refuse bodies over the limit: a declared Content-Length before reading any of it,
    a chunked body as soon as it passes the limit (so the disk never fills up)."""

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = Headers(scope=scope).get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_body_size:
                response = _render(413, PayloadTooLarge.error, TOO_LARGE, {"Connection": "close"})
                await response(scope, receive, send)
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_size:
                raise HTTPException(413)
            return message

        await self.app(scope, counting_receive, send)


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "field": ".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0]),
            "message": err["msg"],
        }
        for err in exc.errors()
    ]
    return _render(422, "invalid_input", problems)


def _database_error(_: Request, exc: Exception) -> JSONResponse:
    logger.error("database error: %s", exc)
    if isinstance(exc, OperationalError):
        return _render(
            503,
            "database_unavailable",
            "The database is unavailable; nothing was changed. Try again shortly.",
            {"Retry-After": "5"},
        )
    return _render(500, "internal_error", "The database refused the change; nothing was saved.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _database_error)
