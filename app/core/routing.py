"""GET routes that answer HEAD too: podcast apps, link checkers and feed validators ask for
the headers first. FastAPI adds no HEAD of its own (Starlette's plain routes do)."""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.types import DecoratedCallable


def get_and_head(
    router: APIRouter | FastAPI, path: str, **get: Any
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """`@router.get(path, **get)`, and the same endpoint for HEAD, which stays out of the
    OpenAPI schema."""

    def register(endpoint: DecoratedCallable) -> DecoratedCallable:
        router.get(path, **get)(endpoint)
        return router.head(path, include_in_schema=False)(endpoint)

    return register
