"""Field types that more than one domain validates, and a refused value in a person's words
(a console form's, a line of an imported file's)."""

from typing import Annotated, Any

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


# Pydantic's words for a refused value ("Input should be less than or equal to 2147483647"),
# as a person says them; an error of another type keeps pydantic's message.
_SAID = {
    "missing": "is needed",
    "int_parsing": "must be a whole number",
    "less_than_equal": "must be {le} or less",
    "greater_than_equal": "must be {ge} or more",
    "greater_than": "must be more than {gt}",
    "string_too_short": "must not be empty",
    "string_too_long": "must be {max_length} characters or fewer",
    # A constrained string whose check ran after another validator (a show's names).
    "too_short": "must not be empty",
    "string_pattern_mismatch": "is not in the form shown beside it",
    "url_parsing": "must be a web address, such as https://example.com/page",
    "url_scheme": "must be a web address, such as https://example.com/page",
    "value_error": "{reason}",
    "enum": "must be one of {choices}",
}


def said(error: Any) -> str:
    """One pydantic error's message in a person's words."""
    words = _SAID.get(error["type"])
    context = error.get("ctx") or {}
    if error["type"] == "value_error" and "reason" in context:  # only EmailStr gives a reason
        return f"must be an email address: {context['reason']}"
    if words is None or (error["type"] == "value_error" and "error" not in context):
        return str(error["msg"])
    choices = str(context.get("expected", "")).replace("'", "")  # 'a', 'b' or 'c'
    return words.format(**context, reason=str(context.get("error", "")), choices=choices)
