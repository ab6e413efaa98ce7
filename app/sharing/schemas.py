from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Reason(StrEnum):
    """Which rule found the feed URL shared (docs/analytics.md, "Sharing detection")."""

    MANY_NETWORKS = "many_networks"
    MANY_APPS = "many_apps"
    OVERCAST_SUBSCRIBERS = "overcast_subscribers"


class Evidence(BaseModel):
    """What one feed URL's downloads looked like over the window, when last detected."""

    detected_at: datetime
    window_days: int
    first_seen: datetime = Field(description="The window's first download.")
    last_seen: datetime = Field(description="The window's last download.")
    downloads: int
    prefix_count: int
    app_count: int
    device_count: int
    prefixes: list[str] = Field(description="Networks (/24 IPv4, /48 IPv6) downloads came from.")
    apps: list[str] = Field(description="Apps identified from the user agents (OPAWG).")
    devices: list[str]
    downloads_per_episode: dict[str, int] = Field(description="By episode id.")
    most_prefixes_per_episode: int = Field(
        description="The most networks any one episode was downloaded from."
    )
    overcast_subscribers: int | None = Field(
        description="The largest subscriber count Overcast reported for this URL in its feed "
        "polls (`Overcast/1.0 Podcast Sync (N subscribers; ...)`), if it polled."
    )
    reasons: list[Reason]


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    token_id: str = Field(description="The feed URL's public row key (survives in analytics).")
    subscriber_id: int
    show_id: int
    status: str
    opened_at: datetime
    closed_at: datetime | None
    evidence: Evidence


class RotatedAlert(AlertOut):
    feed_url: str = Field(description="The subscriber's new feed URL for the show.")
