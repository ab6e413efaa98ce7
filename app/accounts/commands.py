"""`podpass users`: staff accounts (console and API keys)."""

import getpass
import sys
from typing import Annotated

import typer

from app.accounts import service as accounts
from app.audit import service as audit
from app.core.clock import utcnow
from app.core.commands import commands, database
from app.core.db.session import transaction
from app.core.errors import AppError
from app.core.fields import email_address
from app.models import Role

cli = commands("Staff accounts (console and API keys).")
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of standard input instead."
    ),
]


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    try:
        password = getpass.getpass("Password (at least 12 characters): ")
        again = getpass.getpass("The same password again: ")
    except EOFError:  # no terminal to ask on
        raise SystemExit(
            "No password was typed (no terminal?): pipe it in with --password-stdin."
        ) from None
    if again != password:
        raise SystemExit("The two passwords differ; nothing was changed.")
    return password


@cli.command("create")
def create_staff_user(
    email: Annotated[str, typer.Option(help="Their email, which they log in with.")],
    role: Annotated[Role, typer.Option(help="What they may do.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a staff account; the password is asked for twice."""
    try:
        email = email_address(email)
    except AppError as refused:
        raise SystemExit(refused.detail) from None
    password = read_password(password_stdin)
    try:
        with database() as db, transaction(db.writer) as session:
            audit.act_as(session, audit.COMMAND_LINE, utcnow)
            user = accounts.create_user(
                session, email=email, password=password, role=role, now=utcnow()
            )
    except AppError as refused:
        raise SystemExit(refused.detail) from None
    print(f"Created staff account {user.id}: {user.email}, {user.role}.")


@cli.command("set-password")
def set_staff_password(
    email: Annotated[str, typer.Option(help="The account's email.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a staff account's password (asked for twice): its console sessions end, and its
    failed logins are forgotten."""
    password = read_password(password_stdin)
    try:
        with database() as db, transaction(db.writer) as session:
            audit.act_as(session, audit.COMMAND_LINE, utcnow)
            user = accounts.user_by_email(session, email)
            accounts.set_password(session, user, password, now=utcnow())
    except AppError as refused:
        raise SystemExit(refused.detail) from None
    print(f"New password set for {user.email}; their console sessions have ended.")


@cli.command("list")
def list_staff_users() -> None:
    """List staff accounts."""
    with database() as db, transaction(db.reader) as session:
        users = accounts.list_users(session)
    for user in users:
        state = f"disabled {user.disabled_at:%Y-%m-%d}" if user.disabled_at else "active"
        print(f"{user.id}  {user.email}  {user.role}  {state}")
    if not users:
        print("No staff accounts yet: `podpass users create --email … --role owner`.")
