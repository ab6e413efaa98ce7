"""The OpenAPI document as the API really answers.

FastAPI documents each route's success and its validation error. The rest follows from facts
about each operation in the document FastAPI generates, added here in one place: admin routes can
refuse the key, a path parameter can name nothing, a body can be too big, unreadable or of the
wrong type, anything that touches stored data can find the database down. Every error is the
`{"error", "detail"}` JSON of app/core/errors.py, except that pages answer people with HTML. Feeds,
OPML, audio, artwork and episode files get their own media types."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from app.images import ARTWORK_TYPES
from app.models import TRANSCRIPT_TYPES

JSONObject = dict[str, Any]

SCHEMAS: JSONObject = {
    "Error": {
        "title": "Error",
        "type": "object",
        "properties": {
            "error": {"type": "string", "description": "A stable code, such as `not_found`."},
            "detail": {"type": "string", "description": "What went wrong, for a person."},
        },
        "required": ["error", "detail"],
    },
    "Problem": {
        "title": "Problem",
        "type": "object",
        "properties": {
            "field": {"type": "string", "description": "Where: `body.email`, `query.limit`."},
            "message": {"type": "string"},
        },
        "required": ["field", "message"],
    },
    "InvalidInput": {
        "title": "InvalidInput",
        "type": "object",
        "properties": {
            "error": {"type": "string", "enum": ["invalid_input"]},
            "detail": {
                "description": "One problem per field the request got wrong, or, for content "
                "the server checked itself (audio, images, text), one sentence.",
                "anyOf": [
                    {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}},
                    {"type": "string"},
                ],
            },
        },
        "required": ["error", "detail"],
    },
}

ERROR_JSON = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
INVALID_JSON = {"application/json": {"schema": {"$ref": "#/components/schemas/InvalidInput"}}}
TEXT = {"schema": {"type": "string"}}
BINARY = {"schema": {"type": "string", "format": "binary"}}
HTML = {"text/html": TEXT}
RSS = {"application/rss+xml": TEXT}
OPML = {"text/x-opml": TEXT}
AUDIO = {"audio/mpeg": BINARY, "audio/x-m4a": BINARY}
IMAGES = {mime: BINARY for mime in ARTWORK_TYPES.values()}
EPISODE_FILES = (
    {"application/json+chapters": {"schema": {"type": "object"}}}
    | {mime: TEXT for mime in TRANSCRIPT_TYPES.values()}
    | IMAGES
)

WHY = {
    303: "Done: on to the page that shows the result.",
    304: "Not modified since the ETag or date the client sent.",
    206: "The requested byte range.",
    302: "Stored on S3: a presigned URL to fetch it from.",
    400: "A body that cannot be read (not UTF-8, a broken multipart body), or a bad webhook "
    "signature.",
    401: "No admin key, or the wrong one.",
    403: "The subscription has lapsed: only free episodes play; or a public form that was "
    "open too long or posted from another site.",
    404: "Nothing here, or a feed token that is not (or no longer) valid.",
    409: "It already exists.",
    410: "Access has been switched off.",
    413: "The body is larger than this server accepts.",
    415: "A file type this server does not take.",
    416: "The requested range is outside the file.",
    422: "The request is well-formed but its values are not acceptable.",
    429: "Too many requests from this address or network: try again in an hour.",
    503: "The database or file storage is unavailable; nothing was changed. Try again.",
}

# What no route fact can tell: which writes can collide, which bodies name other resources.
DOMAIN_ERRORS: dict[tuple[str, str], tuple[int, ...]] = {
    ("post", "/admin/shows"): (409,),
    ("post", "/admin/subscribers"): (404, 409),
    ("patch", "/admin/subscribers/{subscriber_id}"): (409,),  # another's email or billing id
    ("post", "/admin/users"): (409,),
    ("patch", "/admin/users/{user_id}"): (409,),  # the last active owner
    # The bootstrap admin key has no account, so no keys.
    ("get", "/admin/me/api-keys"): (409,),
    ("post", "/admin/me/api-keys"): (409,),
    ("delete", "/admin/me/api-keys/{api_key_id}"): (409,),
    ("post", "/admin/outbox/{message_id}/retry"): (409,),
    ("post", "/webhooks/billing"): (400, 404, 413, 415),
    ("post", "/webhooks/stripe"): (400, 404, 413, 415),
    ("post", "/webhooks/memberful"): (400, 404, 413, 415),
    ("post", "/webhooks/patreon"): (400, 404, 413, 415),
    ("post", "/webhooks/ghost"): (400, 404, 413, 415),
    ("put", "/admin/plans/{plan_id}"): (409,),  # a provider id another plan lists
    ("post", "/email-my-links"): (403, 429),
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: JSONObject

    @property
    def needs_admin_key(self) -> bool:
        return bool(self.spec.get("security"))

    @property
    def has_path_parameters(self) -> bool:
        return any(p["in"] == "path" for p in self.spec.get("parameters", ()))

    @property
    def body_types(self) -> set[str]:
        return set(self.spec.get("requestBody", {}).get("content", {}))

    @property
    def uses_stored_data(self) -> bool:
        """Anything that names or changes stored data reads the database (the rest are the
        health check and the notice audio, which come from the process)."""
        return bool(self.needs_admin_key or self.spec.get("parameters") or self.body_types)

    @property
    def is_subscriber_page(self) -> bool:
        return self.path.startswith("/my/")

    @property
    def answers_people(self) -> bool:
        """Pages, and everything behind the subscriber's page link, explain errors in HTML."""
        page = "text/html" in self.spec["responses"].get("200", {}).get("content", {})
        return page or self.is_subscriber_page

    @property
    def has_token(self) -> bool:
        return self.path.startswith("/p/{token}")


def _operations(spec: JSONObject) -> Iterator[Operation]:
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield Operation(method, path, operation)


def _success(operation: Operation) -> tuple[JSONObject, dict[int, str]]:
    """The media types of a 200 FastAPI cannot see (routes that build their own Response),
    and the other successes of file and feed routes."""
    path = operation.path
    if path.endswith(".xml"):
        return RSS, {304: WHY[304]}
    if path.endswith(".opml"):
        return OPML, {}
    if path in ("/notice.mp3", "/welcome.mp3", "/payment.mp3"):
        return {"audio/mpeg": BINARY}, {}
    if path.endswith(("{episode_id}.{extension}", "/welcome.{extension}")):
        return AUDIO, {206: WHY[206], 302: WHY[302], 304: WHY[304]}
    if path.endswith("/artwork.{extension}"):
        return IMAGES, {302: WHY[302]}
    if path.endswith("{episode_id}/{name}"):
        return EPISODE_FILES, {302: WHY[302]}
    return {}, {}


def _errors(operation: Operation) -> set[int]:
    codes = set(DOMAIN_ERRORS.get((operation.method, operation.path), ()))
    body = operation.body_types
    if operation.needs_admin_key:
        codes.add(401)
    if operation.has_path_parameters:
        codes.add(404)
    if body:
        codes |= {400, 413, 422}
    if "multipart/form-data" in body:
        codes.add(415)
    if operation.has_token:
        codes.add(410)
        if "{episode_id}" in operation.path:
            codes.add(403)
    if operation.path.endswith(("{episode_id}.{extension}", "/welcome.{extension}")):
        codes.add(416)
    if operation.is_subscriber_page:
        codes.add(410)
    if operation.uses_stored_data:
        codes.add(503)
    return codes


def _describe(operation: Operation) -> None:
    responses: JSONObject = operation.spec["responses"]
    content, successes = _success(operation)
    if content:
        responses["200"] = {"description": responses["200"]["description"], "content": content}
    if operation.is_subscriber_page and operation.method == "post":
        successes[303] = WHY[303]
    for code, why in successes.items():
        responses[str(code)] = {"description": why}
    for code in sorted(_errors(operation)):
        if code == 422:
            responses["422"] = {"description": WHY[422], "content": INVALID_JSON}
        elif operation.answers_people and code in (403, 404, 410, 429):
            responses[str(code)] = {"description": WHY[code], "content": HTML}
        else:
            responses[str(code)] = {"description": WHY[code], "content": ERROR_JSON}
    # FastAPI documents the 422 on any route with parameters, in its own shape.
    if "422" in responses:
        responses["422"] = {"description": WHY[422], "content": INVALID_JSON}
    operation.spec["responses"] = dict(sorted(responses.items()))


def complete(spec: JSONObject) -> JSONObject:
    for operation in _operations(spec):
        _describe(operation)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.update(SCHEMAS)
    return spec


def install_openapi(app: FastAPI) -> None:
    completed: list[JSONObject] = []

    def openapi() -> JSONObject:
        spec = FastAPI.openapi(app)  # cached by FastAPI until the routes change
        if not completed or completed[-1] is not spec:
            completed[:] = [complete(spec)]
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
