from typing import Annotated

from fastapi import Depends, Request

from app.core.deps import SettingsDep
from app.outbox.service import Asker
from app.portal.service import client_network


def _asker(request: Request, settings: SettingsDep) -> Asker:
    """Whoever posts a form asking for an emailed link: a subscriber's "email me my links",
    a staff member's forgotten password."""
    return Asker(
        network=client_network(request.client.host if request.client else ""),
        secret_key=settings.secret_key,
        per_address=settings.links_per_address_per_hour,
        per_network=settings.links_per_ip_per_hour,
    )


AskerDep = Annotated[Asker, Depends(_asker)]
