"""The console's plans page: which shows each plan gives, and how much of the back catalogue."""

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from pydantic import BaseModel, TypeAdapter, ValidationError

from app.billing import service as billing
from app.billing.schemas import (
    BackCatalogueRule,
    LatestEpisodes,
    PlanId,
    PlanIn,
    Provider,
    SinceJoining,
)
from app.console.deps import SUPPORT, SUPPORT_FORM
from app.console.forms import problems
from app.console.pages import redirect, render
from app.core.db.session import SessionDep
from app.core.errors import Conflict, InvalidInput
from app.core.fields import said
from app.models import Plan
from app.shows import service as shows

router = APIRouter(prefix="/console", include_in_schema=False)

_PLAN_ID: TypeAdapter[str] = TypeAdapter(PlanId)
_BACK_CATALOGUE: TypeAdapter[BackCatalogueRule] = TypeAdapter(BackCatalogueRule)


class PlanForm(BaseModel):
    """A plan as posted. The back-catalogue rule comes with the number its choice needs
    (the other stays empty); a form without a rule keeps the plan's, as the API does."""

    plan_id: str
    new: bool = False  # posted by the "New plan" form, which must not replace a plan
    name: str = ""
    shows: list[str] = []
    back_catalogue: str = ""
    episodes: str = ""
    days_before: str = ""
    # The ids at each billing provider that buy the plan, separated by commas or spaces. A
    # form without these fields keeps the plan's ids, as the API does.
    stripe: str | None = None
    memberful: str | None = None
    patreon: str | None = None
    ghost: str | None = None

    @classmethod
    def of(cls, plan: Plan) -> "PlanForm":
        rule = billing.back_catalogue_of(plan)
        ids: dict[str, list[str]] = {provider.value: [] for provider in Provider}
        for row in plan.external_ids:
            ids[row.provider].append(row.external_id)
        return cls(
            plan_id=plan.id,
            name=plan.name,
            shows=[show.slug for show in plan.shows],
            back_catalogue=rule.rule,
            episodes=str(rule.episodes) if isinstance(rule, LatestEpisodes) else "",
            days_before=str(rule.days_before) if isinstance(rule, SinceJoining) else "",
            **{provider: " ".join(sorted(found)) for provider, found in ids.items()},
        )

    def _external_ids(self) -> dict[Provider, list[str]] | None:
        typed = {provider: getattr(self, provider.value) for provider in Provider}
        if all(value is None for value in typed.values()):
            return None
        return {
            provider: value.replace(",", " ").split()
            for provider, value in typed.items()
            if value and value.strip()
        }

    def plan(self) -> tuple[str, PlanIn]:
        try:
            plan_id = _PLAN_ID.validate_python(self.plan_id)
        except ValidationError:
            raise InvalidInput(
                "plan id: up to 255 letters, digits and . _ : - (no spaces), as the billing "
                "system names the plan."
            ) from None
        return plan_id, PlanIn(
            name=self.name,
            shows=self.shows,
            back_catalogue=self._rule(),
            external_ids=self._external_ids(),
        )

    def _rule(self) -> BackCatalogueRule | None:
        if not self.back_catalogue:
            return None
        numbers = {"episodes": self.episodes.strip(), "days_before": self.days_before.strip()}
        given = {name: value for name, value in numbers.items() if value}
        try:
            return _BACK_CATALOGUE.validate_python({"rule": self.back_catalogue} | given)
        except ValidationError as exc:  # its path names the rule's variant: say the field
            error = exc.errors()[0]
            field = str(error["loc"][-1]).replace("_", " ") if error["loc"] else "rule"
            raise InvalidInput(f"back catalogue, {field}: {said(error)}") from None


def _plans_page(
    request: Request,
    session: SessionDep,
    problems: list[str] | None = None,
    status_code: int = 200,
    form: PlanForm | None = None,
) -> Response:
    plans = {plan.id: PlanForm.of(plan) for plan in billing.list_plans(session)}
    if form is not None and not form.new and form.plan_id in plans:
        plans[form.plan_id], form = form, None  # what was typed stays in that plan's form
    return render(
        request,
        "plans.html",
        {
            "plans": list(plans.values()),
            "shows": shows.list_all(session),
            "problems": problems or [],
            "new": form or PlanForm(plan_id=""),
            "providers": list(Provider),
        },
        status_code=status_code,
    )


@router.get("/plans", dependencies=SUPPORT)
def plans_page(request: Request, session: SessionDep) -> Response:
    return _plans_page(request, session)


@router.post("/plans", dependencies=SUPPORT_FORM)
def save_plan(request: Request, form: Annotated[PlanForm, Form()], session: SessionDep) -> Response:
    """Create a plan (the "New plan" form, which refuses an id in use), or replace the name,
    shows and back catalogue of the plan with this id (its own form, as the API's PUT)."""
    try:
        plan_id, plan = form.plan()
        existing = session.get(Plan, plan_id) if form.new else None
        if existing is not None:
            raise InvalidInput(
                f"plan id: {existing.name} already has the id {plan_id}. Change that plan in "
                "its own form above, or give the new plan another id."
            )
        saved = billing.put_plan(session, plan_id, plan)
    except (ValidationError, InvalidInput, Conflict) as exc:  # Conflict: an id of another plan
        status = 422 if isinstance(exc, ValidationError) else exc.status_code
        return _plans_page(request, session, problems(exc), status, form)
    given = ", ".join(show.title for show in saved.shows) or "no shows"
    return redirect("/console/plans", flash=f"Plan {saved.name} ({saved.id}) gives: {given}.")


@router.post("/plans/{plan_id}/delete", dependencies=SUPPORT_FORM)
def delete_plan(plan_id: str, session: SessionDep) -> Response:
    billing.delete_plan(session, plan_id)
    return redirect("/console/plans", flash=f"Plan {plan_id} deleted.")
