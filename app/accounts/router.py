from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.accounts import service
from app.accounts.deps import PrincipalDep, UserDep, require
from app.accounts.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    Me,
    UserCreate,
    UserOut,
    UserUpdate,
)
from app.accounts.service import Permission
from app.audit import service as audit
from app.audit.schemas import AuditEventOut
from app.audit.service import Action
from app.core.db.session import SessionDep
from app.core.deps import ClockDep, Limit, Offset, RowId, SettingsDep
from app.core.errors import Conflict
from app.models import ApiKey, Role, StaffUser

router = APIRouter(prefix="/admin", tags=["accounts"])
OwnerOnly = [require(Permission.ACCOUNTS)]


def own_account(session: SessionDep, principal: PrincipalDep) -> StaffUser:
    if principal.user_id is None:
        raise Conflict(
            "The bootstrap PODPASS_ADMIN_KEY belongs to no account, so it has no API keys: "
            "create a staff account (POST /admin/users) and make keys as that user."
        )
    return service.get_user(session, principal.user_id)


OwnAccountDep = Annotated[StaffUser, Depends(own_account)]


def present_user(user: StaffUser) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        role=Role(user.role),
        created_at=user.created_at,
        disabled_at=user.disabled_at,
        last_login_at=user.last_login_at,
    )


def present_key(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut.model_validate(key, from_attributes=True)


@router.get("/me", summary="Who this key or session acts as, and what it may do")
def read_me(principal: PrincipalDep) -> Me:
    return Me(
        user_id=principal.user_id,
        email=principal.email,
        role=principal.role,
        permissions=[p for p in Permission if principal.can(p)],
    )


@router.post("/users", status_code=201, dependencies=OwnerOnly, summary="Create a staff account")
def create_user(data: UserCreate, session: SessionDep, clock: ClockDep) -> UserOut:
    user = service.create_user(
        session, email=data.email, password=data.password, role=data.role, now=clock()
    )
    return present_user(user)


@router.get("/users", dependencies=OwnerOnly, summary="List staff accounts")
def list_users(session: SessionDep) -> list[UserOut]:
    return [present_user(user) for user in service.list_users(session)]


@router.patch(
    "/users/{user_id}",
    dependencies=OwnerOnly,
    summary="Change a staff account's role or password, or disable it",
)
def update_user(user: UserDep, data: UserUpdate, session: SessionDep, clock: ClockDep) -> UserOut:
    if data.password is not None:
        service.set_password(session, user, data.password, now=clock())
    if data.role is not None:
        service.set_role(session, user, data.role)
    if data.disabled is True:
        service.disable_user(session, user, now=clock())
    elif data.disabled is False:
        service.enable_user(session, user)
    return present_user(user)


@router.get("/me/api-keys", summary="List your API keys")
def list_api_keys(session: SessionDep, user: OwnAccountDep) -> list[ApiKeyOut]:
    return [present_key(key) for key in service.list_api_keys(session, user)]


@router.post("/me/api-keys", status_code=201, summary="Create an API key (shown once)")
def create_api_key(
    data: ApiKeyCreate, session: SessionDep, user: OwnAccountDep, clock: ClockDep
) -> ApiKeyCreated:
    api_key, key = service.create_api_key(session, user, name=data.name, now=clock())
    return ApiKeyCreated(**present_key(api_key).model_dump(), key=key)


@router.delete("/me/api-keys/{api_key_id}", status_code=204, summary="Revoke one of your API keys")
def revoke_api_key(
    api_key_id: RowId, session: SessionDep, user: OwnAccountDep, clock: ClockDep
) -> None:
    service.revoke_api_key(session, service.get_api_key(session, user, api_key_id), now=clock())


# The audit log is read here, not in app/audit/: every domain imports the audit package to
# record, so it cannot import this package back for its `require`.
@router.get("/audit", dependencies=OwnerOnly, summary="The audit log: who did what, and when")
def list_audit_events(
    session: SessionDep,
    settings: SettingsDep,
    action: Action | None = None,
    actor: Annotated[str | None, Query(max_length=320)] = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=255)] = None,
    first_day: Annotated[date | None, Query(alias="from")] = None,
    last_day: Annotated[date | None, Query(alias="to")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[AuditEventOut]:
    """Uploads, publishes, deletes, rotations, revocations, plan and account changes, from
    the console, the API, billing webhooks, commands and jobs; newest first. `actor`: an
    email, PODPASS_ADMIN_KEY, billing:<provider> or system. `from` and `to`: days in
    PODPASS_TIMEZONE, both included."""
    filters = audit.day_filters(
        settings.timezone,
        action=action,
        actor=actor,
        first_day=first_day,
        last_day=last_day,
        target_type=target_type,
        target_id=target_id,
    )
    found = audit.list_some(session, filters, limit=limit, offset=offset)
    return [AuditEventOut.model_validate(event) for event in found]
