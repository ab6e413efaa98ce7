"""Stripe: the only module that imports `stripe`. Verification is the library's
(`Stripe-Signature`, with its timestamp tolerance); the events used, and what they mean here:

- `checkout.session.completed`: the customer's email (links a subscriber added by hand);
- `customer.subscription.created` / `.updated` / `.deleted`: by status, `active` and
  `trialing` grant the plan that the items' price ids buy; `past_due` starts the grace
  period; `unpaid`, `paused`, `canceled` and `incomplete_expired` lapse, and `.deleted`
  cancels; `incomplete` (the first payment not yet made) changes nothing;
- `invoice.paid`: a payment, with the email and price ids, so it grants (and creates the
  subscriber: subscription events carry no email) and ends a past-due period; a credit line
  (the unused time of a price changed mid-period) grants nothing;
- `charge.refunded`: a full refund revokes; a partial one changes nothing;
- `customer.updated`: a changed email.
"""

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from app.billing.providers import parse
from app.billing.schemas import BillingEventType, ProviderEvent
from app.core.errors import InvalidInput
from app.core.tokens import SignatureRejected

SIGNATURE_HEADER = "Stripe-Signature"
_LAPSING = {"unpaid": BillingEventType.LAPSED, "paused": BillingEventType.LAPSED}
_LAPSING |= {"incomplete_expired": BillingEventType.LAPSED, "canceled": BillingEventType.CANCELLED}


class _Event(BaseModel):
    id: str
    type: str
    created: int
    data: dict[str, Any]


class _Price(BaseModel):
    id: str


class _Item(BaseModel):
    price: _Price


class _Items(BaseModel):
    data: list[_Item] = []


class _Subscription(BaseModel):
    customer: str
    status: str
    items: _Items = _Items()


class _PriceDetails(BaseModel):
    price: str


class _Pricing(BaseModel):
    price_details: _PriceDetails | None = None


class _LineDetails(BaseModel):
    proration: bool = False


class _LineParent(BaseModel):
    invoice_item_details: _LineDetails | None = None
    subscription_item_details: _LineDetails | None = None


class _Line(BaseModel):
    amount: int = 0
    # API versions before 2025-03-31 (basil):
    price: _Price | None = None
    proration: bool = False
    # 2025-03-31 (basil) and later:
    pricing: _Pricing | None = None
    parent: _LineParent | None = None

    @property
    def price_id(self) -> str | None:
        if self.pricing is not None and self.pricing.price_details is not None:
            return self.pricing.price_details.price
        return self.price.id if self.price is not None else None

    @property
    def is_proration(self) -> bool:
        if self.parent is None:
            return self.proration
        details = (self.parent.subscription_item_details, self.parent.invoice_item_details)
        return any(d is not None and d.proration for d in details)


class _Lines(BaseModel):
    data: list[_Line] = []

    def current_prices(self) -> tuple[str, ...]:
        """The prices the subscription has now. A change of price mid-period puts a credit
        for the old price's unused time (a negative line, listed first) and a charge for the
        new one's on the invoice that follows (at once, or with the next period's): a credit
        grants nothing, and the period's own line, where there is one, is the price now."""
        charges = [line for line in self.data if line.amount >= 0 and line.price_id]
        current = [line for line in charges if not line.is_proration] or charges
        return tuple(price for line in current if (price := line.price_id) is not None)


class _Invoice(BaseModel):
    customer: str | None = None
    customer_email: str | None = None
    lines: _Lines = _Lines()


class _CustomerDetails(BaseModel):
    email: str | None = None


class _CheckoutSession(BaseModel):
    customer: str | None = None
    customer_details: _CustomerDetails | None = None


class _Charge(BaseModel):
    customer: str | None = None
    refunded: bool = False


class _Customer(BaseModel):
    id: str
    email: str | None = None


def verified_event(secret: str, signature: str | None, body: bytes, *, tolerance: int) -> _Event:
    # Imported on the first Stripe event: the library costs each worker about 20 MB, which a
    # server without Stripe should not pay.
    import stripe

    try:
        event = stripe.Webhook.construct_event(body, signature, secret, tolerance=tolerance)
    except stripe.SignatureVerificationError as exc:
        raise SignatureRejected(f"{SIGNATURE_HEADER} refused: {exc.user_message or exc}") from None
    except ValueError:
        raise InvalidInput("Malformed event: the body is not JSON.") from None
    return parse(_Event, event.to_dict())


def translate(event: _Event) -> ProviderEvent | None:
    """The event in Podpass's terms, or None for one Podpass does not use."""
    obj = event.data.get("object", {})
    occurred = datetime.fromtimestamp(event.created, UTC)
    kind = event.type
    if kind in _SUBSCRIPTION_EVENTS:
        subscription = parse(_Subscription, obj)
        if kind == "customer.subscription.deleted":
            change: BillingEventType | None = BillingEventType.CANCELLED
        else:
            change = _subscription_change(subscription.status, created=kind.endswith(".created"))
        if change is None:
            return None
        prices = tuple(item.price.id for item in subscription.items.data)
        return ProviderEvent(event.id, change, occurred, subscription.customer, prices=prices)
    if kind == "invoice.paid":
        invoice = parse(_Invoice, obj)
        if invoice.customer is None:
            return None
        return ProviderEvent(
            event.id,
            BillingEventType.RENEWED,
            occurred,
            invoice.customer,
            email=invoice.customer_email,
            prices=invoice.lines.current_prices(),
        )
    if kind == "checkout.session.completed":
        session = parse(_CheckoutSession, obj)
        email = session.customer_details.email if session.customer_details else None
        if session.customer is None or email is None:
            return None  # a guest payment, no customer to remember
        return ProviderEvent(
            event.id, BillingEventType.CUSTOMER_UPDATED, occurred, session.customer, email
        )
    if kind == "charge.refunded":
        charge = parse(_Charge, obj)
        if charge.customer is None or not charge.refunded:
            return None  # partly refunded: access stays
        return ProviderEvent(event.id, BillingEventType.REFUNDED, occurred, charge.customer)
    if kind == "customer.updated":
        customer = parse(_Customer, obj)
        if "email" not in event.data.get("previous_attributes", {}) or customer.email is None:
            return None
        return ProviderEvent(
            event.id, BillingEventType.CUSTOMER_UPDATED, occurred, customer.id, customer.email
        )
    return None


_SUBSCRIPTION_EVENTS = {
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
}


def _subscription_change(status: str, *, created: bool) -> BillingEventType | None:
    if status in ("active", "trialing"):
        return BillingEventType.CREATED if created else BillingEventType.PLAN_CHANGED
    if status == "past_due":
        return BillingEventType.PAST_DUE
    return _LAPSING.get(status)
