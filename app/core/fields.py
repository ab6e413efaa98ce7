"""Field types that more than one domain validates."""

from typing import Annotated

from pydantic import AfterValidator, EmailStr, TypeAdapter, ValidationError

from app.core.errors import InvalidInput


def normalise_email(email: str) -> str:
    """An address as Podpass keeps it, so that one person is one row (and one login)."""
    return email.strip().lower()


# A person's address (a subscriber's, a staff user's), as email-validator accepts it, in
# lower case so that one person is one row.
Email = Annotated[EmailStr, AfterValidator(normalise_email)]
_EMAIL: TypeAdapter[str] = TypeAdapter(Email)


def email_address(text: str) -> str:
    """`text` as an Email, for what comes in outside a schema (a form, the command line)."""
    try:
        return _EMAIL.validate_python(text)
    except ValidationError:
        raise InvalidInput(
            f"email: {text.strip()!r} is not an email address (it looks like name@example.com)."
        ) from None
