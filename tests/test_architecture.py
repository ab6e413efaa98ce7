"""The shape of app/: packages point down. Each package and root module of app/ is a node;
an import of app.X inside app.Y is an edge Y → X, wherever it stands (a lazy import inside a
function, or one under TYPE_CHECKING, is still an edge). No node may reach itself."""

import ast
from collections.abc import Iterator
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"


def node(module: str) -> str | None:
    """`app.feeds.router` -> `feeds`; `app.main` -> `main`; other modules -> None."""
    parts = module.split(".")
    if parts[0] != "app" or len(parts) < 2:
        return None
    return parts[1]


def imported(tree: ast.AST) -> Iterator[str]:
    for statement in ast.walk(tree):
        if isinstance(statement, ast.Import):
            yield from (alias.name for alias in statement.names)
        elif isinstance(statement, ast.ImportFrom) and statement.module and not statement.level:
            yield statement.module
            yield from (f"{statement.module}.{alias.name}" for alias in statement.names)


def edges(app: Path) -> dict[str, set[str]]:
    nodes = {p.stem for p in app.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    graph: dict[str, set[str]] = {name: set() for name in nodes}
    for path in app.rglob("*.py"):
        source = path.relative_to(app).parts[0].removesuffix(".py")
        for module in imported(ast.parse(path.read_text(), str(path))):
            target = node(module)
            if target in nodes and target != source:
                graph[source].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for target in sorted(graph[name]):
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            component = []
            while (member := stack.pop()) != name:
                component.append(member)
            component.append(name)
            if len(component) > 1:
                found.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def test_no_package_of_app_imports_itself_back() -> None:
    assert cycles(edges(APP)) == []


def test_the_check_sees_a_cycle_through_a_lazy_import(tmp_path: Path) -> None:
    app = tmp_path / "app"
    for package in ("low", "high"):
        (app / package).mkdir(parents=True)
        (app / package / "__init__.py").write_text("")
    (app / "high" / "service.py").write_text("from app.low import service as low\n")
    (app / "low" / "service.py").write_text(
        "def later() -> None:\n    from app.high.service import thing  # noqa\n"
    )
    assert cycles(edges(app)) == [["high", "low"]]


# app/'s root: what composes the application, the models, and one adapter per library. Shared
# infrastructure lives in app/core/, and a helper that one package uses lives in that package.
ROOT = {
    "main": "composition: the ASGI application",
    "cli": "composition: the `podpass` command",
    "jobs": "composition: the periodic jobs and who says what in each email",
    "openapi": "the OpenAPI document as the API answers",
    "models": "every ORM model",
    "audio": "the mutagen adapter",
    "images": "the Pillow adapter",
    "text": "the nh3 adapter, and text as feeds need it",
}


def test_the_root_of_app_holds_only_what_has_a_place_there() -> None:
    modules = {path.stem for path in APP.glob("*.py")} - {"__init__"}
    assert modules == set(ROOT)
    assert len(ROOT) <= 13
