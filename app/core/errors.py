"""Domain errors carry their HTTP status; one handler renders every error as JSON (as a page
under the console's paths)."""

import json
import logging
from collections.abc import Callable, Mapping

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException

logger = logging.getLogger(__name__)
UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE


class AppError(Exception):
    """One class per answer the services raise, so that a caller can catch one (`except
    NotFound`); the handler reads the status and the error code from the class, which names
    them in its header: `class Gone(AppError, status_code=410, error="gone")`."""

    status_code = 400
    error = "bad_request"

    def __init_subclass__(cls, *, status_code: int | None = None, error: str | None = None) -> None:
        super().__init_subclass__()
        if status_code is not None:
            cls.status_code = status_code
        if error is not None:
            cls.error = error

    def __init__(self, detail: str, *, api_hint: str = "") -> None:
        """`api_hint`: where the admin API finds what was meant ("GET /admin/shows lists
        them"), said after `detail` in the API's answer but not on a console page."""
        self.message = detail
        self.detail = f"{detail} {api_hint}" if api_hint else detail
        super().__init__(self.detail)
        self.headers: dict[str, str] = {}


class InvalidInput(AppError, status_code=422, error="invalid_input"): ...


class Unauthorized(AppError, status_code=401, error="unauthorized"):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(AppError, status_code=403, error="forbidden"): ...


class NotFound(AppError, status_code=404, error="not_found"): ...


class Gone(AppError, status_code=410, error="gone"): ...


class Conflict(AppError, status_code=409, error="conflict"): ...


class PayloadTooLarge(AppError, status_code=413, error="payload_too_large"): ...


class UnsupportedMedia(AppError, status_code=415, error="unsupported_media"): ...


class PreconditionFailed(AppError, status_code=412, error="precondition_failed"): ...


class RangeUnsatisfiable(AppError, status_code=416, error="range_not_satisfiable"):
    def __init__(self, size: int) -> None:
        super().__init__(f"The requested range is outside the file, which has {size} bytes.")
        self.headers = {"Content-Range": f"bytes */{size}"}


class TooManyAttempts(AppError, status_code=429, error="too_many_attempts"):
    def __init__(self, detail: str, *, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after_seconds)}


class StorageUnavailable(AppError, status_code=503, error="storage_unavailable"): ...


class DatabaseUnavailable(AppError, status_code=503, error="database_unavailable"):
    def __init__(self) -> None:
        super().__init__("The database is unavailable; nothing was changed. Try again shortly.")
        self.headers = {"Retry-After": "5"}


def _render(
    status_code: int, error: str, detail: object, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "detail": detail}, status_code=status_code, headers=headers
    )


def error_response(exc: AppError, headers: dict[str, str] | None = None) -> JSONResponse:
    return _render(exc.status_code, exc.error, exc.detail, (headers or {}) | exc.headers)


def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return error_response(exc)


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    # The body-size limit raises a 413 while FastAPI reads the body, where a domain error
    # would be turned into a 400.
    error = PayloadTooLarge.error if exc.status_code == 413 else "http_error"
    return _render(exc.status_code, error, exc.detail, dict(exc.headers or {}))


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


def _is_unique_violation(exc: IntegrityError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == UNIQUE_VIOLATION or getattr(
        exc.orig, "sqlite_errorname", None
    ) in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")


def _database_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    # Only the statement and the database's first line: the parameters, and PostgreSQL's
    # DETAIL line ("Key (email)=(...) already exists"), carry subscribers' emails.
    logger.error(
        "database error: %s: %s [statement: %s]",
        type(exc.orig).__name__,
        str(exc.orig).partition("\n")[0],
        exc.statement,
    )
    if isinstance(exc, IntegrityError) and _is_unique_violation(exc):
        # Typically two requests creating the same thing at once: the services' check
        # before the insert passed for both, and the database let one through.
        return _render(
            409,
            Conflict.error,
            "That conflicts with something that already exists (the same email, name or id), "
            "perhaps created a moment ago; nothing was saved.",
        )
    if isinstance(exc, OperationalError):
        return error_response(DatabaseUnavailable())
    return _render(500, "internal_error", "The database refused the change; nothing was saved.")


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    # Starlette logs the traceback as well, after this answer has gone out.
    logger.error("unexpected %s while answering a request", type(exc).__name__)
    return _render(
        500, "internal_error", "Something went wrong on the server; nothing was changed."
    )


# An HTML page for an error: (request, status code, the JSON answer's detail, the error
# when there is one: the page may say it in other words than the API's).
ErrorPage = Callable[[Request, int, object, Exception | None], Response]
Handler = Callable[[Request, Exception], Response]
JsonHandler = Callable[[Request, Exception], JSONResponse]


def as_page(
    request: Request,
    answer: JSONResponse,
    pages: Mapping[str, ErrorPage],
    exc: Exception | None = None,
) -> Response:
    """The JSON answer, or for a path under one of `pages`' prefixes (the console, opened in
    a browser) the same status, detail and headers as a page."""
    page = next((p for prefix, p in pages.items() if request.url.path.startswith(prefix)), None)
    if page is None:
        return answer
    body = json.loads(bytes(answer.body))
    rendered = page(request, answer.status_code, body["detail"], exc)
    for name, value in answer.headers.items():
        if name not in ("content-length", "content-type"):
            rendered.headers[name] = value
    return rendered


def _paged(handler: JsonHandler, pages: Mapping[str, ErrorPage]) -> Handler:
    def handle(request: Request, exc: Exception) -> Response:
        return as_page(request, handler(request, exc), pages, exc)

    return handle


def install_error_handlers(app: FastAPI, pages: Mapping[str, ErrorPage] | None = None) -> None:
    handlers: dict[type[Exception], JsonHandler] = {
        Exception: _unexpected,
        AppError: _app_error,
        HTTPException: _http_error,
        RequestValidationError: _validation_error,
        DBAPIError: _database_error,
    }
    for exc_class, handler in handlers.items():
        app.add_exception_handler(exc_class, _paged(handler, pages or {}))
