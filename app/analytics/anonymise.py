"""How a listener's address is kept: cut to its network prefix, and hashed under a salt that
changes every UTC day, so no raw IP reaches the database and yesterday's hashes cannot be
matched with today's."""

import hashlib
import hmac
import ipaddress
import secrets
from datetime import date
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.db.session import conflict_insert
from app.models import DailySalt

IP_HASH_LENGTH = 32  # hex digits of HMAC-SHA256 kept: 128 bits


class Place(NamedTuple):
    """Where a request came from, as stored: what is hashed, and the network prefix."""

    hashed: str  # the IPv4 address, or the IPv6 address cut to its /64
    prefix: str  # "203.0.113.0/24", "2001:db8:1::/48"; "" for a client that is not an IP


@lru_cache(maxsize=65536)  # apps poll from the same few addresses all day
def place(ip: str) -> Place:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:  # no client address (a Unix socket), or a test client's name
        return Place(ip, "")
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is None:
            home = ipaddress.IPv6Network((address, 64), strict=False)
            site = ipaddress.IPv6Network((address, 48), strict=False)
            return Place(str(home.network_address), str(site))
        address = address.ipv4_mapped  # ::ffff:203.0.113.7, from a dual-stack socket
    return Place(str(address), str(ipaddress.IPv4Network((address, 24), strict=False)))


@lru_cache(maxsize=65536)  # an app fetches an episode in many requests from one address
def ip_hash(salt: bytes, hashed: str) -> str:
    return hmac.digest(salt, hashed.encode(), hashlib.sha256).hex()[:IP_HASH_LENGTH]


def _insert_or_ignore(session: Session, day: date, salt: str) -> None:
    """Create the day's salt unless a worker already has: on both databases a concurrent
    insert of the same day waits for the other and then does nothing."""
    statement = conflict_insert(session, DailySalt).values(day=day, salt=salt)
    session.execute(statement.on_conflict_do_nothing(index_elements=["day"]))


def day_salt(session: Session, day: date) -> bytes:
    """The day's salt, shared by every worker through the table (created on first use)."""
    _insert_or_ignore(session, day, secrets.token_hex(32))
    salt = session.scalars(select(DailySalt.salt).where(DailySalt.day == day)).one()
    return bytes.fromhex(salt)
