"""Field types that more than one domain validates."""

from typing import Annotated

from pydantic import AfterValidator, EmailStr


def _normalise_email(email: str) -> str:
    return email.strip().lower()


# A person's address (a subscriber's, a staff user's), as email-validator accepts it, in
# lower case so that one person is one row.
Email = Annotated[EmailStr, AfterValidator(_normalise_email)]
