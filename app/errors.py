"""Domain errors carry their HTTP status; one handler renders every error as JSON."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException


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


class UnsupportedAudio(AppError):
    status_code = 415
    error = "unsupported_audio"


class StorageUnavailable(AppError):
    status_code = 503
    error = "storage_unavailable"


def _render(status_code: int, error: str, detail: object, headers: dict[str, str] | None = None
            ) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status_code,
                        headers=headers)


def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return _render(exc.status_code, exc.error, exc.detail, headers)


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    error = "payload_too_large" if exc.status_code == 413 else "http_error"
    detail = exc.detail
    if exc.status_code == 413:
        detail = "The request body is larger than this server accepts (PODPASS_MAX_UPLOAD_MB)."
    return _render(exc.status_code, error, detail, dict(exc.headers or {}))


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"field": ".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0]),
         "message": err["msg"]}
        for err in exc.errors()
    ]
    return _render(422, "invalid_input", problems)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
