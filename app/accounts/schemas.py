from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.accounts.service import MIN_PASSWORD_LENGTH, Permission
from app.core.fields import Email
from app.models import Role

Password = Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024)]
KeyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class UserCreate(BaseModel):
    email: Email
    password: Password = Field(description="The initial password, at least 12 characters.")
    role: Role


class UserUpdate(BaseModel):
    role: Role | None = None
    disabled: bool | None = Field(
        default=None, description="true disables the account and revokes its API keys."
    )
    password: Password | None = Field(
        default=None,
        description="A new password: their console sessions end, their failed logins are "
        "forgotten (a throttled account can log in at once); their API keys keep working.",
    )


class UserOut(BaseModel):
    id: int
    email: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None
    last_login_at: datetime | None


class Me(BaseModel):
    user_id: int | None = Field(description="None: the bootstrap PODPASS_ADMIN_KEY.")
    email: str
    role: Role
    permissions: list[Permission]


class ApiKeyCreate(BaseModel):
    name: KeyName = Field(description="What the key is for, such as `upload script`.")


class ApiKeyOut(BaseModel):
    id: int
    name: str
    key_id: str = Field(description="The key's public part: it starts `pp_<key_id>`.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself: shown this once, never stored.")
