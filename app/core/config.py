"""Every setting, read from the environment (and an optional `.env` file) in one place."""

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Self
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_LENGTH = 32
# The lease is at least this many delivery timeouts: two are kept back as each delivery's
# room (app/outbox/sender.py), the rest is for delivering.
OUTBOX_LEASE_TIMEOUTS = 4
_UNSAFE_SECRETS = {"changeme", "change-me", "secret", "development", "test"}


# Same shape as the StrEnums in app/models.py: these are the settings' choices, those the
# values rows store.
class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class StorageBackend(StrEnum):
    LOCAL = "local"
    S3 = "s3"


class AccelRedirect(StrEnum):
    """Who sends a local file's bytes once its token is checked: this server, or the
    reverse proxy in front of it (nginx's X-Accel-Redirect, or X-Sendfile)."""

    OFF = "off"
    NGINX = "nginx"
    SENDFILE = "sendfile"


class SmtpSecurity(StrEnum):
    NONE = "none"  # plain SMTP: only to a relay on the same host or network
    STARTTLS = "starttls"  # port 587
    TLS = "tls"  # implicit TLS, port 465


class DatabaseSettings(BaseSettings):
    """What migrations need: the database, and nothing secret."""

    model_config = SettingsConfigDict(
        env_prefix="PODPASS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    database_url: str = Field(default="sqlite:///./podpass.db", validation_alias="DATABASE_URL")


class Settings(DatabaseSettings):
    env: Environment = Environment.DEVELOPMENT
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""
    admin_key: str = ""
    renew_url: str = ""
    owner_email: str = "podcasts@example.com"
    publisher_name: str = "Podpass"
    # The publisher's IANA time zone (Europe/London): the console shows and schedules in it.
    timezone: ZoneInfo = ZoneInfo("UTC")
    page_link_days: float = Field(default=7, gt=0, le=365)
    # How long a console login lasts; logging in again starts a new one.
    session_hours: float = Field(default=12, gt=0, le=24 * 30)
    webhook_secret: str = ""
    webhook_tolerance_seconds: int = Field(default=300, ge=1)
    # Billing providers' webhooks (app/billing/providers/): each is off until its secret is set.
    stripe_webhook_secret: str = ""  # whsec_… from the Stripe dashboard
    memberful_webhook_secret: str = ""
    patreon_webhook_secret: str = ""
    ghost_webhook_secret: str = ""
    # How long a subscriber whose payment failed (Stripe past_due) keeps access.
    past_due_grace_days: float = Field(default=3, ge=0, le=60)

    # Listening analytics (app/analytics/): recording, retention, sharing detection.
    analytics: bool = True  # record feed polls and audio requests
    analytics_queue_size: int = Field(default=10_000, ge=1)
    analytics_flush_seconds: float = Field(default=2.0, gt=0, le=60)
    event_retention_days: int = Field(default=30, ge=1)
    sharing_window_days: int = Field(default=7, ge=1, le=90)
    sharing_min_prefixes: int = Field(default=6, ge=2)
    sharing_min_apps: int = Field(default=4, ge=2)
    sharing_auto_rotate: bool = False
    # The publisher's address for sharing alerts, emailed as each one opens; empty: none.
    alerts_email: str = ""
    # The rollup, sharing detection and raw-event purge, run inside the server (app/jobs.py).
    background_jobs: bool = True
    jobs_interval_seconds: float = Field(default=600, gt=0)

    # Email (app/outbox/mail.py) and the outbox that delivers it (app/outbox/).
    publisher_colour: str = Field(default="#1f3a5f", pattern=r"^#[0-9a-fA-F]{6}$")
    smtp_host: str = ""  # empty: emails wait in the outbox, undelivered
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_security: SmtpSecurity = SmtpSecurity.STARTTLS
    smtp_from: str = ""  # empty: "<publisher_name> <owner_email>"
    smtp_timeout_seconds: float = Field(default=30, gt=0, le=300)
    outbox_backoff_seconds: float = Field(default=60, gt=0)
    outbox_max_tries: int = Field(default=8, ge=1, le=30)
    # A claimed message another sender may take over if no outcome is recorded by then
    # (its sender died). A sender starts a delivery only while its claim has two timeouts
    # left (app/outbox/sender.py), so the lease must leave room for some deliveries.
    outbox_lease_seconds: float = Field(default=300, gt=0)
    outbox_poll_seconds: float = Field(default=5, gt=0, le=3600)
    outbox_batch: int = Field(default=20, ge=1, le=1000)
    # Each app process sends too (the embedded default); false when `podpass worker` does.
    outbox_in_app: bool = True
    # Outbound webhooks (POSTed by the outbox sender) and "email me my links" (app/portal/).
    webhook_timeout_seconds: float = Field(default=10, gt=0, le=60)
    # Endpoints on loopback, private or link-local addresses: off, so that an endpoint
    # cannot make the server POST to itself or its network (tests and LAN setups turn it on).
    webhook_allow_private: bool = False
    links_per_address_per_hour: int = Field(default=3, ge=1)
    links_per_ip_per_hour: int = Field(default=20, ge=1)

    storage: StorageBackend = StorageBackend.LOCAL
    audio_dir: Path = Path("audio")
    max_upload_mb: int = Field(default=1024, ge=1)
    # Behind nginx (or Caddy): local files go out through the proxy after the token check
    # (docs/production.md). nginx: an internal location at accel_prefix, aliased to
    # audio_dir; sendfile: X-Sendfile with the file's absolute path.
    accel_redirect: AccelRedirect = AccelRedirect.OFF
    accel_prefix: str = Field(default="/_podpass_audio/", pattern=r"^/(.*/)?$")

    s3_bucket: str = ""
    s3_region: str | None = None
    s3_endpoint_url: str | None = None
    s3_path_style: bool = False
    s3_presign_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def public_base_url(self) -> str:
        return self.base_url.rstrip("/")

    @model_validator(mode="after")
    def _enforce_safe_secrets(self) -> Self:
        for name in ("secret_key", "admin_key"):
            value: str = getattr(self, name)
            env_var = f"PODPASS_{name.upper()}"
            if not value:
                raise ValueError(
                    f"{env_var} is not set. Generate one with "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'` "
                    "(or run `make run`, which writes a .env with fresh keys)."
                )
            unsafe = value.lower() in _UNSAFE_SECRETS or len(value) < MIN_SECRET_LENGTH
            if unsafe and self.env is Environment.PRODUCTION:
                raise ValueError(
                    f"{env_var} is unsafe for production: use at least "
                    f"{MIN_SECRET_LENGTH} random characters."
                )
        if self.storage is StorageBackend.S3 and not self.s3_bucket:
            raise ValueError("PODPASS_STORAGE=s3 needs PODPASS_S3_BUCKET.")
        slowest = max(self.smtp_timeout_seconds, self.webhook_timeout_seconds)
        if self.outbox_lease_seconds < OUTBOX_LEASE_TIMEOUTS * slowest:
            raise ValueError(
                f"PODPASS_OUTBOX_LEASE_SECONDS ({self.outbox_lease_seconds:g}) must be at least "
                f"{OUTBOX_LEASE_TIMEOUTS} times the slowest delivery timeout ({slowest:g} s): "
                "a sender starts a delivery only while its claim has two timeouts left."
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
