"""Sending email over SMTP: the only module that imports smtplib."""

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr

from app.core.config import Settings, SmtpSecurity


class MailFailed(Exception):
    """The message did not go out this time (server down, busy, timed out): try again."""


class MailRefused(MailFailed):
    """The server refused the message for good (a 5xx: no such mailbox, policy): trying
    again would get the same answer."""


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    security: SmtpSecurity
    username: str
    password: str
    timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> "Smtp":
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout_seconds,
        )

    def send(self, message: EmailMessage) -> None:
        """Hand one message to the server, or raise MailFailed/MailRefused."""
        try:
            with self._connect() as server:
                if self.username:
                    server.login(self.username, self.password)
                refused = server.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _failure(exc, min(code for code, _ in exc.recipients.values())) from None
        except smtplib.SMTPResponseException as exc:
            raise _failure(exc, exc.smtp_code) from None
        except (smtplib.SMTPException, OSError) as exc:  # refused connection, timeout, TLS
            raise MailFailed(f"{type(exc).__name__}: {exc}") from None
        if refused:  # only some recipients refused; we send to one, so this is rare
            raise MailRefused(f"recipients refused: {sorted(refused)}")

    def _connect(self) -> smtplib.SMTP:
        if self.security is SmtpSecurity.TLS:
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security is SmtpSecurity.STARTTLS:
            try:
                server.starttls(context=ssl.create_default_context())
            except BaseException:
                server.close()
                raise
        return server


def _failure(exc: Exception, code: int) -> MailFailed:
    kind = MailRefused if 500 <= code < 600 else MailFailed
    return kind(f"{type(exc).__name__}: {exc}")


def sender_address(settings: Settings) -> str:
    """PODPASS_SMTP_FROM, else the publisher's name at the owner's address."""
    return settings.smtp_from or formataddr((settings.publisher_name, settings.owner_email))
