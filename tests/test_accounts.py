"""Staff accounts, roles, API keys, console sessions and login throttling, through the real
app (and the real database) the other tests use."""

import io
import logging
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from starlette.types import Message

from app.accounts import service as accounts
from app.accounts.sessions import COOKIE, Sessions
from app.cli import main as cli
from app.core.config import Settings
from app.core.db.engine import Database
from app.core.db.session import transaction
from app.core.errors import TooManyAttempts, Unauthorized
from app.core.logs import RedactTokens
from app.main import create_app
from app.models import ApiKey, Role, StaffUser
from tests.conftest import ADMIN_KEY, SECRET_KEY, Clock

PASSWORD = "correct horse battery"


@pytest.fixture
def db(client: TestClient) -> Database:
    database: Database = client.app.state.db  # type: ignore[attr-defined]
    return database


def make_user(db: Database, email: str, role: Role, clock: Clock) -> StaffUser:
    with transaction(db.writer) as session:
        return accounts.create_user(session, email=email, password=PASSWORD, role=role, now=clock())


def make_key(db: Database, user_id: int, clock: Clock) -> str:
    with transaction(db.writer) as session:
        user = accounts.get_user(session, user_id)
        _, key = accounts.create_api_key(session, user, name="tests", now=clock())
    return key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def key_for(db: Database, clock: Clock) -> Callable[[Role], str]:
    """An API key of a new user with the role."""

    def make(role: Role) -> str:
        user = make_user(db, f"{role}@example.com", role, clock)
        return make_key(db, user.id, clock)

    return make


def log_in(client: TestClient, user_id: int, clock: Clock) -> str:
    """Put a console session cookie on the client; return its CSRF token."""
    sessions: Sessions = client.app.state.sessions  # type: ignore[attr-defined]
    cookie = sessions.issue(user_id, clock())
    client.cookies.set(COOKIE, cookie)
    staff_session = sessions.read(cookie, clock())
    assert staff_session is not None
    return staff_session.csrf


# Each router's reads and writes, and the roles that may use them. A refused call is a 403;
# an allowed one gets past the role check to the route (a 404 or 422 for made-up input).
EVERYONE = {Role.OWNER, Role.EDITOR, Role.SUPPORT, Role.ANALYST}
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None, set[Role]]] = [
    ("GET", "/admin/shows", None, EVERYONE),
    ("POST", "/admin/shows", {}, {Role.OWNER, Role.EDITOR}),
    ("GET", "/admin/shows/nope/episodes", None, EVERYONE),
    ("POST", "/admin/episodes/999/publish", None, {Role.OWNER, Role.EDITOR}),
    ("GET", "/admin/subscribers", None, {Role.OWNER, Role.SUPPORT}),
    ("POST", "/admin/subscribers", {}, {Role.OWNER, Role.SUPPORT}),
    ("GET", "/admin/plans", None, {Role.OWNER, Role.SUPPORT}),
    ("DELETE", "/admin/plans/nope", None, {Role.OWNER, Role.SUPPORT}),
    ("GET", "/admin/analytics/shows/nope", None, EVERYONE),
    ("GET", "/admin/sharing/alerts", None, {Role.OWNER, Role.SUPPORT}),
    ("POST", "/admin/sharing/alerts/999/acknowledge", None, {Role.OWNER, Role.SUPPORT}),
    ("GET", "/admin/users", None, {Role.OWNER}),
    ("POST", "/admin/users", {}, {Role.OWNER}),
]


@pytest.mark.parametrize("role", list(Role))
def test_each_role_reaches_what_its_role_allows_and_no_more(
    client: TestClient, key_for: Callable[[Role], str], role: Role
) -> None:
    headers = bearer(key_for(role))
    for method, path, body, allowed in ENDPOINTS:
        response = client.request(method, path, json=body, headers=headers)
        if role in allowed:
            assert response.status_code not in (401, 403), (method, path, response.text)
        else:
            assert response.status_code == 403, (method, path, response.text)
            refusal = response.json()
            assert refusal["error"] == "forbidden"
            assert "owner" in refusal["detail"]  # names the role needed
            assert f"has the {role} role" in refusal["detail"]


def test_the_bootstrap_key_is_an_owner_without_keys_of_its_own(admin: TestClient) -> None:
    me = admin.get("/admin/me").json()
    assert me["user_id"] is None
    assert me["role"] == "owner"
    assert set(me["permissions"]) == {p.value for p in accounts.Permission}
    refused = admin.post("/admin/me/api-keys", json={"name": "mine"})
    assert refused.status_code == 409
    assert "POST /admin/users" in refused.json()["detail"]


def test_an_owner_creates_accounts_and_duplicates_and_weak_passwords_are_refused(
    admin: TestClient,
) -> None:
    made = admin.post(
        "/admin/users", json={"email": " Ed@Example.com", "password": PASSWORD, "role": "editor"}
    )
    assert made.status_code == 201, made.text
    assert made.json()["email"] == "ed@example.com"
    assert "password" not in made.text
    assert PASSWORD not in made.text
    again = admin.post(
        "/admin/users", json={"email": "ED@example.com", "password": PASSWORD, "role": "analyst"}
    )
    assert again.status_code == 409
    weak = admin.post(
        "/admin/users", json={"email": "w@example.com", "password": "short", "role": "editor"}
    )
    assert weak.status_code == 422
    assert [u["email"] for u in admin.get("/admin/users").json()] == ["ed@example.com"]


def test_an_api_key_is_shown_once_works_and_stops_when_revoked(
    client: TestClient, db: Database, clock: Clock
) -> None:
    user = make_user(db, "sam@example.com", Role.SUPPORT, clock)
    csrf = log_in(client, user.id, clock)
    made = client.post(
        "/admin/me/api-keys", json={"name": "billing sync"}, headers={"X-CSRF-Token": csrf}
    )
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    assert key.startswith("pp_" + made.json()["key_id"])
    assert len(key) >= 3 + 8 + 43  # 256 random bits after the public part
    client.cookies.clear()

    me = client.get("/admin/me", headers=bearer(key)).json()
    assert (me["email"], me["role"]) == ("sam@example.com", "support")
    assert client.get("/admin/subscribers", headers=bearer(key)).status_code == 200
    listed = client.get("/admin/me/api-keys", headers=bearer(key)).json()
    assert [k["name"] for k in listed] == ["billing sync"]
    assert "key" not in listed[0]
    assert listed[0]["last_used_at"] is not None
    with transaction(db.reader) as session:
        stored = session.get(ApiKey, made.json()["id"])
        assert stored is not None
        assert key not in (stored.key_hash, stored.key_id)

    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert client.get("/admin/me", headers=bearer(forged)).status_code == 401

    revoked = client.delete(f"/admin/me/api-keys/{made.json()['id']}", headers=bearer(key))
    assert revoked.status_code == 204
    refused = client.get("/admin/me", headers=bearer(key))
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"


def test_a_user_cannot_revoke_someone_elses_key(
    client: TestClient, db: Database, clock: Clock
) -> None:
    alice = make_user(db, "alice@example.com", Role.EDITOR, clock)
    bob = make_user(db, "bob@example.com", Role.EDITOR, clock)
    bobs_key = make_key(db, bob.id, clock)
    alices = make_key(db, alice.id, clock)
    bobs_id = client.get("/admin/me/api-keys", headers=bearer(bobs_key)).json()[0]["id"]
    assert client.delete(f"/admin/me/api-keys/{bobs_id}", headers=bearer(alices)).status_code == 404
    assert client.get("/admin/me", headers=bearer(bobs_key)).status_code == 200


def test_last_used_is_written_at_most_once_a_minute(
    client: TestClient, key_for: Callable[[Role], str], db: Database, clock: Clock
) -> None:
    key = key_for(Role.ANALYST)

    def last_used() -> Any:
        with transaction(db.reader) as session:
            return session.query(ApiKey).one().last_used_at

    client.get("/admin/me", headers=bearer(key))
    first = last_used()
    assert first is not None
    clock.advance(timedelta(seconds=30))
    client.get("/admin/me", headers=bearer(key))
    assert last_used() == first
    clock.advance(timedelta(seconds=31))
    client.get("/admin/me", headers=bearer(key))
    assert last_used() > first


def test_a_disabled_user_loses_keys_sessions_and_logins(
    admin: TestClient, db: Database, clock: Clock
) -> None:
    user = make_user(db, "ex@example.com", Role.EDITOR, clock)
    key = make_key(db, user.id, clock)
    sessions: Sessions = admin.app.state.sessions  # type: ignore[attr-defined]
    cookie = sessions.issue(user.id, clock())
    assert admin.get("/admin/shows", headers=bearer(key)).status_code == 200

    disabled = admin.patch(f"/admin/users/{user.id}", json={"disabled": True})
    assert disabled.status_code == 200
    assert disabled.json()["disabled_at"] is not None
    assert admin.get("/admin/shows", headers=bearer(key)).status_code == 401
    admin.headers.pop("Authorization")
    admin.cookies.set(COOKIE, cookie)
    assert admin.get("/admin/shows").status_code == 401
    with pytest.raises(Unauthorized, match=accounts.WRONG_LOGIN):
        login(db, user.email, PASSWORD, "192.0.2.1", clock)

    admin.cookies.clear()
    admin.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
    assert admin.patch(f"/admin/users/{user.id}", json={"disabled": False}).status_code == 200
    assert admin.get("/admin/shows", headers=bearer(key)).status_code == 401  # stays revoked
    login(db, user.email, PASSWORD, "192.0.2.1", clock)
    admin.headers.pop("Authorization")
    admin.cookies.set(COOKIE, cookie)
    assert admin.get("/admin/me").status_code == 401  # the old session does not come back


def test_the_last_active_owner_cannot_be_demoted_or_disabled(
    admin: TestClient, db: Database, clock: Clock
) -> None:
    first = make_user(db, "first@example.com", Role.OWNER, clock)
    for change in ({"role": "editor"}, {"disabled": True}):
        refused = admin.patch(f"/admin/users/{first.id}", json=change)
        assert refused.status_code == 409, change
        assert "last active owner" in refused.json()["detail"]
    second = make_user(db, "second@example.com", Role.OWNER, clock)
    assert admin.patch(f"/admin/users/{first.id}", json={"role": "editor"}).status_code == 200
    assert admin.patch(f"/admin/users/{second.id}", json={"disabled": True}).status_code == 409
    roles = {u["email"]: u["role"] for u in admin.get("/admin/users").json()}
    assert roles == {"first@example.com": "editor", "second@example.com": "owner"}


def login(db: Database, email: str, password: str, ip: str, clock: Clock) -> None:
    accounts.authenticate(db, email=email, password=password, ip=ip, now=clock())


def test_logins_check_the_password_and_say_nothing_about_which_part_was_wrong(
    db: Database, clock: Clock
) -> None:
    user = make_user(db, "pat@example.com", Role.ANALYST, clock)
    messages = set()
    for email, password in (("pat@example.com", "wrong password!"), ("nobody@x.com", PASSWORD)):
        with pytest.raises(Unauthorized) as refused:
            login(db, email, password, "192.0.2.1", clock)
        messages.add(refused.value.detail)
    assert messages == {accounts.WRONG_LOGIN}
    login(db, " PAT@example.com", PASSWORD, "192.0.2.1", clock)
    with transaction(db.reader) as session:
        assert accounts.get_user(session, user.id).last_login_at is not None


def test_wrong_passwords_are_throttled_per_account(db: Database, clock: Clock) -> None:
    make_user(db, "pat@example.com", Role.ANALYST, clock)
    first_failure = clock()
    for attempt in range(accounts.MAX_FAILURES_PER_ACCOUNT):
        with pytest.raises(Unauthorized):  # each failure counted though its request failed
            login(db, "pat@example.com", f"guess number {attempt}", f"198.51.100.{attempt}", clock)
    with pytest.raises(TooManyAttempts) as throttled:
        login(db, "pat@example.com", PASSWORD, "203.0.113.9", clock)  # right, from elsewhere
    assert "try again in 15 minute(s)" in throttled.value.detail
    assert throttled.value.status_code == 429
    # The clock is real time (plus what tests add): the wait counts from the first failure,
    # however long this machine took since.
    waited = math.ceil((clock() - first_failure).total_seconds())
    assert 15 * 60 - waited - 1 <= int(throttled.value.headers["Retry-After"]) <= 15 * 60
    clock.advance(timedelta(minutes=15, seconds=1))
    login(db, "pat@example.com", PASSWORD, "203.0.113.9", clock)


def test_wrong_passwords_are_throttled_per_ip(db: Database, clock: Clock) -> None:
    make_user(db, "pat@example.com", Role.ANALYST, clock)
    for attempt in range(accounts.MAX_FAILURES_PER_IP):
        with pytest.raises(Unauthorized):
            login(db, f"guess{attempt}@example.com", PASSWORD, "192.0.2.7", clock)
        clock.advance(timedelta(seconds=10))
    with pytest.raises(TooManyAttempts):
        login(db, "pat@example.com", PASSWORD, "192.0.2.7", clock)
    login(db, "pat@example.com", PASSWORD, "192.0.2.8", clock)  # another address may
    # The first failure leaves the window first: then one more try is allowed.
    clock.advance(accounts.THROTTLE_WINDOW - timedelta(seconds=10 * accounts.MAX_FAILURES_PER_IP))
    login(db, "pat@example.com", PASSWORD, "192.0.2.7", clock)


def test_a_session_cookie_works_for_the_api_with_its_csrf_token(
    client: TestClient, db: Database, clock: Clock
) -> None:
    editor = make_user(db, "ed@example.com", Role.EDITOR, clock)
    csrf = log_in(client, editor.id, clock)
    assert client.get("/admin/me").json()["email"] == "ed@example.com"
    show = {
        "slug": "s",
        "title": "S",
        "description": "S.",
        "author": "A",
        "owner_name": "O",
        "owner_email": "o@example.com",
        "link": "https://example.com/s",
    }
    refused = client.post("/admin/shows", json=show)
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.json()["detail"]
    wrong = client.post("/admin/shows", json=show, headers={"X-CSRF-Token": csrf[:-1] + "x"})
    assert wrong.status_code == 403
    assert client.post("/admin/shows", json=show, headers={"X-CSRF-Token": csrf}).status_code == 201
    # The role still applies to a session.
    forbidden = client.get("/admin/subscribers")
    assert forbidden.status_code == 403
    assert "support" in forbidden.json()["detail"]


def test_an_expired_or_forged_session_is_refused(
    client: TestClient, db: Database, clock: Clock, settings: Settings
) -> None:
    user = make_user(db, "ed@example.com", Role.EDITOR, clock)
    log_in(client, user.id, clock)
    clock.advance(timedelta(hours=settings.session_hours) - timedelta(seconds=1))
    assert client.get("/admin/me").status_code == 200
    clock.advance(timedelta(seconds=1))
    expired = client.get("/admin/me")
    assert expired.status_code == 401
    assert "log in again" in expired.json()["detail"]

    other_secret = Sessions("x" * 40, lifetime=timedelta(hours=1), secure=False)
    client.cookies.set(COOKIE, other_secret.issue(user.id, clock()))
    assert client.get("/admin/me").status_code == 401


def test_session_cookie_options() -> None:
    plain = Sessions(SECRET_KEY, lifetime=timedelta(hours=12), secure=False).cookie_options()
    assert plain == {
        "max_age": 12 * 3600,
        "path": "/",
        "httponly": True,
        "samesite": "lax",
        "secure": False,
    }


def test_https_deployments_get_secure_cookies(settings: Settings, clock: Clock) -> None:
    https = settings.model_copy(update={"base_url": "https://podcasts.example.com"})
    with TestClient(create_app(https, clock)) as client:
        assert client.app.state.sessions.cookie_options()["secure"] is True  # type: ignore[attr-defined]


def refused_from_headers(
    client: TestClient, method: str, headers: dict[str, str], *, length: int = 1_000_000
) -> int:
    """Send an upload straight to the ASGI app, with a body it must not read; the status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("192.0.2.1", 1234),
        "root_path": "",
        "path": "/admin/shows/s/episodes",
        "raw_path": b"/admin/shows/s/episodes",
        "query_string": b"",
        "headers": [
            (b"content-type", b"multipart/form-data; boundary=b"),
            (b"content-length", str(length).encode()),
            *[(name.lower().encode(), value.encode()) for name, value in headers.items()],
        ],
        "state": {},
    }
    sent: list[Message] = []

    async def receive() -> Message:
        raise AssertionError("the body was read")

    async def send(message: Message) -> None:
        sent.append(message)

    async def call() -> None:
        await client.app(scope, receive, send)

    anyio.run(call)
    status: int = sent[0]["status"]
    return status


def test_uploads_without_credentials_or_csrf_are_refused_before_the_body(
    client: TestClient, db: Database, clock: Clock
) -> None:
    assert refused_from_headers(client, "POST", {}) == 401
    assert refused_from_headers(client, "POST", bearer("pp_" + "x" * 51)) == 401
    assert refused_from_headers(client, "POST", {"Authorization": "Bearer"}) == 401  # no key
    user = make_user(db, "ed@example.com", Role.EDITOR, clock)
    sessions: Sessions = client.app.state.sessions  # type: ignore[attr-defined]
    cookie = f"{COOKIE}={sessions.issue(user.id, clock())}"
    assert refused_from_headers(client, "POST", {"Cookie": cookie}) == 403


def test_only_roles_that_upload_may_send_large_bodies(
    client: TestClient, key_for: Callable[[Role], str], settings: Settings
) -> None:
    """An analyst's key is valid, but its role uploads nothing: a body over 1 MB is refused
    from its Content-Length, or as it streams, before the server spools it."""
    analyst, editor = bearer(key_for(Role.ANALYST)), bearer(key_for(Role.EDITOR))
    assert refused_from_headers(client, "POST", analyst, length=2 * 1024 * 1024) == 413
    assert refused_from_headers(client, "POST", analyst, length=settings.max_upload_bytes) == 413

    def body() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for _ in range(2):
            yield b"\0" * 1024 * 1024

    streamed = client.post("/admin/shows", content=body(), headers=analyst)
    assert streamed.status_code == 413
    assert "owner and editor roles" in streamed.json()["detail"]
    # An editor may send as much as an upload can be: the body is read (and has no audio).
    sized = client.post(
        "/admin/shows/nope/episodes",
        content=b"\0" * (2 * 1024 * 1024),
        headers=editor | {"Content-Type": "application/octet-stream"},
    )
    assert sized.status_code == 422, sized.text


def test_parallel_wrong_guesses_get_no_more_checks_than_the_limit(
    db: Database, clock: Clock
) -> None:
    """Each attempt is recorded before its password is checked, so guesses sent at once
    cannot all pass the throttle together: a 401 is a checked password, a 429 is not."""
    make_user(db, "pat@example.com", Role.ANALYST, clock)
    guesses = accounts.MAX_FAILURES_PER_ACCOUNT * 3
    start = threading.Barrier(guesses)

    def guess(n: int) -> type[Exception]:
        start.wait()
        try:
            login(db, "pat@example.com", f"guess number {n}", f"198.51.100.{n}", clock)
        except (Unauthorized, TooManyAttempts) as refused:
            return type(refused)
        raise AssertionError("a wrong password was accepted")

    with ThreadPoolExecutor(guesses) as pool:
        outcomes = Counter(pool.map(guess, range(guesses)))
    assert outcomes == {
        Unauthorized: accounts.MAX_FAILURES_PER_ACCOUNT,
        TooManyAttempts: guesses - accounts.MAX_FAILURES_PER_ACCOUNT,
    }


def test_a_copied_session_cookie_stops_working_after_logout(
    client: TestClient, db: Database, clock: Clock
) -> None:
    user = make_user(db, "ed@example.com", Role.EDITOR, clock)
    csrf = log_in(client, user.id, clock)
    copied = client.cookies[COOKIE]
    assert client.get("/admin/me").status_code == 200
    clock.advance(timedelta(seconds=1))
    logged_out = client.post("/console/logout", data={"csrf": csrf}, follow_redirects=False)
    assert logged_out.status_code == 303
    client.cookies.set(COOKIE, copied)
    ended = client.get("/admin/me")
    assert ended.status_code == 401
    assert "log in again" in ended.json()["detail"]
    assert client.get("/console/", follow_redirects=False).status_code == 303  # to the login
    clock.advance(timedelta(seconds=1))
    log_in(client, user.id, clock)  # a new session works
    assert client.get("/admin/me").status_code == 200


def test_api_keys_never_reach_the_access_log_whole(
    client: TestClient, key_for: Callable[[Role], str]
) -> None:
    key = key_for(Role.ANALYST)
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, "", 0, "refused %s", (f"Bearer {key}",), None
    )
    assert RedactTokens().filter(record)
    assert key not in record.getMessage()
    assert key[:11] + "…" in record.getMessage()  # pp_ and the public key_id


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)


def test_the_cli_creates_the_first_owner_who_can_then_log_in(
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    db: Database,
    clock: Clock,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    args = ["users", "create", "--email", "Ben@Example.com", "--role", "owner"]
    assert cli([*args, "--password-stdin"]) == 0
    assert "ben@example.com, owner" in capsys.readouterr().out
    login(db, "ben@example.com", PASSWORD, "192.0.2.1", clock)

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    with pytest.raises(SystemExit, match="already exists"):
        cli([*args, "--password-stdin"])
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    with pytest.raises(SystemExit, match="at least 12"):
        cli(["users", "create", "--email", "e@example.com", "--role", "editor", "--password-stdin"])
    typed = iter([PASSWORD, PASSWORD + "!"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(typed))
    with pytest.raises(SystemExit, match="differ"):
        cli(["users", "create", "--email", "e@example.com", "--role", "editor"])

    def no_terminal(prompt: str) -> str:
        raise EOFError  # getpass with nothing to read from, as under a script or cron

    monkeypatch.setattr("getpass.getpass", no_terminal)
    with pytest.raises(SystemExit, match="--password-stdin"):
        cli(["users", "create", "--email", "e@example.com", "--role", "editor"])

    assert cli(["users", "list"]) == 0
    listed = capsys.readouterr().out
    assert "ben@example.com  owner  active" in listed
    assert "e@example.com" not in listed


def test_a_database_outage_while_identifying_a_key_is_a_503(settings: Settings) -> None:
    """The key check runs in middleware, outside the app's error handlers: a database that is
    down answers 503 there too, not a 500."""
    unreachable = "postgresql+psycopg://podpass@127.0.0.1:1/podpass"  # nothing listens on port 1
    down = settings.model_copy(update={"database_url": unreachable, "background_jobs": False})
    with TestClient(create_app(down), raise_server_exceptions=False) as client:
        response = client.get("/admin/shows", headers=bearer("pp_" + "x" * 51))
    assert response.status_code == 503
    assert response.json()["error"] == "database_unavailable"
    assert response.headers["retry-after"] == "5"


NEW_PASSWORD = "a brand new passphrase"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}


def lock_out(db: Database, email: str, clock: Clock) -> None:
    for attempt in range(accounts.MAX_FAILURES_PER_ACCOUNT):
        with pytest.raises(Unauthorized):
            login(db, email, "not the password", f"192.0.2.{attempt}", clock)
    with pytest.raises(TooManyAttempts):
        login(db, email, PASSWORD, "192.0.2.99", clock)


def test_an_owner_resets_a_password_which_ends_sessions_and_unlocks_the_account(
    client: TestClient, db: Database, clock: Clock
) -> None:
    """Issue 24: a forgotten or locked-out staff password had no way out at all."""
    user = make_user(db, "pat@example.com", Role.EDITOR, clock)
    cookie = client.app.state.sessions.issue(user.id, clock())  # type: ignore[attr-defined]
    lock_out(db, "pat@example.com", clock)
    clock.advance(timedelta(seconds=1))
    short = client.patch(
        f"/admin/users/{user.id}", json={"password": "short"}, headers=ADMIN_HEADERS
    )
    assert short.status_code == 422
    reset = client.patch(
        f"/admin/users/{user.id}", json={"password": NEW_PASSWORD}, headers=ADMIN_HEADERS
    )
    assert reset.status_code == 200, reset.text
    login(db, "pat@example.com", NEW_PASSWORD, "192.0.2.99", clock)  # at once, not throttled
    with pytest.raises(Unauthorized):
        login(db, "pat@example.com", PASSWORD, "192.0.2.99", clock)
    client.cookies.set(COOKIE, cookie)  # a session from before the reset has ended
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_the_cli_sets_a_password(
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    db: Database,
    clock: Clock,
) -> None:
    make_user(db, "pat@example.com", Role.OWNER, clock)
    lock_out(db, "pat@example.com", clock)
    monkeypatch.setattr("sys.stdin", io.StringIO(NEW_PASSWORD + "\n"))
    assert cli(["users", "set-password", "--email", "Pat@example.com", "--password-stdin"]) == 0
    assert "New password set for pat@example.com" in capsys.readouterr().out
    login(db, "pat@example.com", NEW_PASSWORD, "192.0.2.99", clock)
    monkeypatch.setattr("sys.stdin", io.StringIO(NEW_PASSWORD + "\n"))
    with pytest.raises(SystemExit, match=r"No staff account for nobody@example\.com"):
        cli(["users", "set-password", "--email", "nobody@example.com", "--password-stdin"])
