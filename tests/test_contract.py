"""The API answers as its OpenAPI document says: schemathesis generates requests for every
operation, valid and invalid, and each answer must be no server error and be documented (its
status, its media type and, for JSON, its body). Deterministic and bounded, so it runs in CI."""

import os
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, BaseSchema, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err, Ok
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.core.config import Settings
from app.main import create_app
from tests.conftest import ADMIN_KEY, create_show, feed_path, subscribe, upload

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("PODPASS_TEST_DATABASE_URL")),
    reason="The contract does not depend on the database; it runs once, on SQLite.",
)

Operation = APIOperation[Any, Any, Any, Any]
Case = schemathesis.Case[Operation]
SEED = 20251109
EXAMPLES = 25  # per operation and mode: up to 2,000 requests, about 20 seconds
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
NOTES = {"title", "description"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def contract_config(known: dict[str, list[str | int]]) -> schemathesis.Config:
    """Names of real rows, mixed into the generated paths so that some requests reach past
    the 404."""
    return schemathesis.Config.from_dict(
        {
            "cache": {"enabled": False},
            "dictionaries": {name: {"values": values} for name, values in known.items()},
            "parameters": {
                f"path.{name}": {"dictionary": name, "probability": 0.5} for name in known
            },
        }
    )


@pytest.fixture
def api(settings: Settings) -> Iterator[BaseSchema]:
    app = create_app(settings)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        slug = create_show(client)["slug"]
        episode = upload(client, slug, publish=True, free=True)
        assert episode.status_code == 201, episode.text
        subscriber = subscribe(client, "listener@example.com", slug)
        page = client.post(f"/admin/subscribers/{subscriber['id']}/page-link").json()
    known: dict[str, list[str | int]] = {
        "slug": [slug],
        "episode_id": [episode.json()["id"]],
        "extension": ["mp3"],
        "subscriber_id": [subscriber["id"]],
        "token": [feed_path(subscriber, slug).split("/")[2]],
        "signed": [page["url"].rsplit("/", 1)[1]],
    }
    yield schemathesis.openapi.from_asgi("/openapi.json", app, config=contract_config(known))
    shutdown_lifespans()  # schemathesis runs the app's lifespan itself; end it with the test


def exercise(operation: Operation, mode: GenerationMode) -> None:
    @hypothesis.seed(SEED)
    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        phases=[Phase.generate],  # no shrinking: a failing run stays as quick as a passing one
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @hypothesis.given(operation.as_strategy(generation_mode=mode))
    def answer_as_documented(case: Case) -> None:
        case.call_and_validate(checks=CHECKS, headers=ADMIN)

    answer_as_documented()


def _is_any_text(schema: dict[str, Any]) -> bool:
    kinds = schema.get("anyOf", [schema])
    return all(
        kind.get("type") in ("string", "null") and len(kind.keys() - NOTES) == 1 for kind in kinds
    )


def can_be_invalid(operation: Operation) -> bool:
    """Negative cases need something to break: a body, or a parameter that is more than text."""
    spec = operation.definition.raw
    parameters = spec.get("parameters", [])
    return "requestBody" in spec or not all(_is_any_text(p["schema"]) for p in parameters)


def modes(operation: Operation) -> list[GenerationMode]:
    if can_be_invalid(operation):
        return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    return [GenerationMode.POSITIVE]


def report(operation: Operation, mode: GenerationMode, failure: BaseException) -> str:
    notes = "\n".join(getattr(failure, "__notes__", ()))
    return f"{operation.label} ({mode}): {type(failure).__name__}: {failure}\n{notes}"


def run_order(operation: Operation) -> tuple[bool, bool]:
    return operation.method == "delete", operation.path.startswith("/admin")


def test_every_answer_is_documented_and_no_server_error(api: BaseSchema) -> None:
    results = list(api.get_all_operations())
    failures = [f"Not a usable operation: {r.err()}" for r in results if isinstance(r, Err)]
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    # The subscriber's routes before the admin ones revoke them, and deletes last, so that
    # each operation can still find the seeded rows.
    for operation in sorted(operations, key=run_order):
        for mode in modes(operation):
            try:
                exercise(operation, mode)
            except Unsatisfiable as failure:
                # A negative case needs a constraint to break; having none is no failure.
                if mode is GenerationMode.POSITIVE:
                    failures.append(report(operation, mode, failure))
            except (Exception, BaseExceptionGroup) as failure:
                failures.append(report(operation, mode, failure))
    assert not failures, "\n\n".join(failures)
