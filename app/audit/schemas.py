from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from app.models import AuditVia


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str  # an email, PODPASS_ADMIN_KEY, billing:<provider> or system
    actor_user_id: int | None  # their staff account, while it exists
    via: AuditVia
    action: str
    target_type: str
    target_id: str
    target_label: str  # as it was then: a deleted episode's title stays
    detail: dict[str, Any]
