"""Reply templates per intent, filled with slots; a retailer overrides them with a JSON file.

The file maps an intent to a list of templates in order of preference; the first one whose `{placeholders}`
are all available as slots is used, so "Order {order_number} ..." is chosen when the customer gave a number
and a general reply otherwise. Two reserved keys: `_escalation` (sent when the conversation goes to a human)
and `_fallback` (sent when no intent template applies). An intent mapped to an empty list gets no automatic
reply.

A placeholder names a slot the extractor knows (`shelfwise.chat.slots.TEMPLATE_PLACEHOLDERS`), written
plainly: `{order_number}`, never `{order_number!r}`, `{0}` or `{email.attr}`; a literal brace is `{{` or `}}`.

A retailer's templates reach a model version through the training job (`merge_templates`): for every intent
of the model the retailer's templates replace the default ones, an intent the retailer did not write keeps the
default templates when there are any, and an intent with neither gets no automatic reply (`reply: null`; it
does not escalate for that alone). Templates for intents the model does not have are left out.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shelfwise.chat.slots import TEMPLATE_PLACEHOLDERS

ESCALATION_KEY = "_escalation"
FALLBACK_KEY = "_fallback"
RESERVED_KEYS = (ESCALATION_KEY, FALLBACK_KEY)

DEFAULT_TEMPLATES: dict[str, list[str]] = {
    ESCALATION_KEY: [
        "Thanks for your patience. I'm passing this conversation to a member of our team, who will pick it "
        "up shortly with everything you've told me so far.",
    ],
    FALLBACK_KEY: [],
    "cancel_order": [
        "I can help you cancel order {order_number}. Open Your Orders, choose the order and select Cancel; "
        "if it has already shipped you can return it instead.",
        "I can help you cancel an order. Open Your Orders, choose the order and select Cancel. Could you "
        "share the order number so I can check its status?",
    ],
    "change_order": [
        "Order {order_number} can be changed from Your Orders until it ships. Choose the order and select "
        "Edit items.",
        "An order can be changed from Your Orders until it ships. Which order number is it?",
    ],
    "change_shipping_address": [
        "You can change the delivery address of order {order_number} in Your Orders until it ships.",
        "You can change the delivery address of an order in Your Orders until it ships.",
    ],
    "check_cancellation_fee": [
        "Cancelling before an order ships is free. After it ships, a return may carry a fee; the amount is "
        "shown in Your Orders before you confirm.",
    ],
    "check_invoice": [
        "The invoice for order {order_number} is under Your Orders → Invoices.",
        "Your invoices are under Your Orders → Invoices.",
    ],
    "check_payment_methods": [
        "We accept credit and debit cards, PayPal and bank transfer. The options for your country are shown "
        "at checkout.",
    ],
    "check_refund_policy": [
        "Items can be returned within 30 days of delivery for a full refund to the original payment method.",
    ],
    "thank_you": ["You're welcome! Is there anything else I can help you with?"],
    "small_talk": [
        "Hello! I'm the store's assistant. How can I help you with an order, a delivery or a refund?"
    ],
    "complaint": [
        "I'm sorry about this. I've recorded your complaint and a member of our team will follow it up.",
    ],
    "contact_customer_service": [
        "Our customer service team is available by chat and e-mail every day from 8:00 to 20:00.",
    ],
    "contact_human_agent": [
        "Of course, I'm connecting you with a member of our team now.",
    ],
    "create_account": [
        "You can create an account by choosing Sign up at the top of any page. It takes about a minute.",
    ],
    "delete_account": [
        "You can delete your account under Account → Privacy → Delete account. This cannot be undone.",
    ],
    "delivery_options": [
        "We offer standard (3-5 working days), express (1-2 working days) and pick-up point delivery. "
        "Options and prices for your address are shown at checkout.",
    ],
    "delivery_period": [
        "Order {order_number} should arrive within the delivery window shown in Your Orders; you'll get an "
        "e-mail as soon as it ships.",
        "Standard delivery takes 3-5 working days and express 1-2. The exact window is shown in Your Orders.",
    ],
    "edit_account": [
        "You can update your details under Account → Profile.",
    ],
    "get_invoice": [
        "You can download the invoice for order {order_number} from Your Orders → Invoices.",
        "You can download any invoice from Your Orders → Invoices.",
    ],
    "get_refund": [
        "I can help with a refund of {amount} for order {order_number}. Start a return from Your Orders and "
        "the refund is issued once we receive the item.",
        "I can help with a refund for order {order_number}. Start a return from Your Orders and the refund "
        "is issued once we receive the item.",
        "To get a refund, start a return from Your Orders; the refund is issued once we receive the item.",
    ],
    "newsletter_subscription": [
        "You can subscribe or unsubscribe from our newsletter under Account → Communication preferences.",
    ],
    "payment_issue": [
        "I'm sorry your payment didn't go through. Please check the card details and try again, or choose "
        "another payment method at checkout.",
    ],
    "place_order": [
        "To place an order, add the items to your basket and choose Checkout.",
    ],
    "recover_password": [
        "Choose Sign in → Forgot password and we'll e-mail you a link to set a new one.",
    ],
    "registration_problems": [
        "Sorry you're having trouble signing up. Please check that the e-mail address isn't already "
        "registered and that the password has at least 8 characters.",
    ],
    "review": [
        "Thank you for your feedback, we read every review.",
    ],
    "set_up_shipping_address": [
        "You can add a delivery address under Account → Addresses.",
    ],
    "switch_account": [
        "To switch accounts, sign out from the Account menu and sign in with the other account.",
    ],
    "track_order": [
        "You can follow order {order_number} in Your Orders → Track package.",
        "You can follow your order in Your Orders → Track package. Could you share the order number?",
    ],
    "track_refund": [
        "Refunds appear on your statement 3-5 working days after we receive the return. You can see the "
        "status of order {order_number} in Your Orders.",
        "Refunds appear on your statement 3-5 working days after we receive the return; the status is shown "
        "in Your Orders.",
    ],
}


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def template_problem(template: str) -> str | None:
    """Why the slot extractor could never fill `template`, or None when it can."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return "unbalanced brace: write a placeholder as {order_number} and a literal brace as {{ or }}"
    for _, name, format_spec, conversion in fields:
        if name is None:
            continue
        if name == "" or name.isdigit():
            return "a placeholder needs a slot name, e.g. {order_number}"
        if name not in TEMPLATE_PLACEHOLDERS:
            return f"unknown placeholder {{{name}}}; known: {', '.join(TEMPLATE_PLACEHOLDERS)}"
        if format_spec or conversion:
            return f"placeholder {{{name}}} takes no ! or : options; write {{{name}}}"
    return None


def template_file_problems(templates: object, intents: Iterable[str]) -> list[str]:
    """What is wrong with a version's reply template file (parsed JSON) for a model answering `intents`."""
    if not isinstance(templates, dict):
        return ["reply templates must be a JSON object of intent -> [templates]"]
    known = set(intents) | set(RESERVED_KEYS)
    problems = []
    for intent, options in templates.items():
        if intent not in known:
            problems.append(f"templates for {intent!r}, which is not an intent of the model")
        if not isinstance(options, list) or not all(isinstance(option, str) for option in options):
            problems.append(f"templates for {intent!r} must be a list of strings")
            continue
        problems += [
            f"template {index} of {intent!r}: {problem}"
            for index, option in enumerate(options)
            if (problem := template_problem(option))
        ]
    return problems


def order_templates(rows: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """(intent, template) rows as a template file: per intent, duplicates dropped, the templates needing the
    most slots first (rows order breaks ties), because the first template whose slots are all present is
    the one sent — "Order {order_number} ..." must come before the general answer to be used at all."""
    grouped: dict[str, list[str]] = {}
    for intent, template in rows:
        options = grouped.setdefault(intent, [])
        if template not in options:
            options.append(template)
    return {
        intent: sorted(options, key=lambda option: -len(_placeholders(option)))
        for intent, options in grouped.items()
    }


@dataclass(frozen=True)
class MergedTemplates:
    """The template file of one model version, and where each intent's replies come from."""

    templates: dict[str, list[str]]  # every intent of the model plus the reserved keys
    from_retailer: list[str] = field(default_factory=list)
    from_defaults: list[str] = field(default_factory=list)
    without_reply: list[str] = field(default_factory=list)  # reply null for these intents
    unknown_intents: list[str] = field(default_factory=list)  # retailer templates left out
    slot_only: list[str] = field(default_factory=list)  # no reply when the message lacks the slot

    def summary(self) -> dict[str, list[str]]:
        return {
            "from_retailer": self.from_retailer,
            "from_defaults": self.from_defaults,
            "without_reply": self.without_reply,
            "unknown_intents": self.unknown_intents,
            "slot_only": self.slot_only,
        }


def merge_templates(
    intents: Sequence[str],
    retailer: Mapping[str, list[str]],
    defaults: Mapping[str, list[str]] = DEFAULT_TEMPLATES,
) -> MergedTemplates:
    """The retailer's templates override the defaults intent by intent (see the module docstring)."""
    templates: dict[str, list[str]] = {}
    from_retailer, from_defaults, without_reply = [], [], []
    for key in [*RESERVED_KEYS, *sorted(intents)]:
        if retailer.get(key):
            templates[key] = list(retailer[key])
            from_retailer.append(key)
        elif defaults.get(key):
            templates[key] = list(defaults[key])
            from_defaults.append(key)
        else:
            templates[key] = []
            if key not in RESERVED_KEYS:
                without_reply.append(key)
    known = set(templates)
    return MergedTemplates(
        templates=templates,
        from_retailer=[key for key in from_retailer if key not in RESERVED_KEYS],
        from_defaults=[key for key in from_defaults if key not in RESERVED_KEYS],
        without_reply=without_reply,
        unknown_intents=sorted(key for key in retailer if key not in known),
        slot_only=[
            key
            for key in from_retailer
            if key not in RESERVED_KEYS and all(_placeholders(option) for option in templates[key])
        ],
    )


class ReplyTemplates:
    def __init__(self, templates: Mapping[str, list[str]]) -> None:
        for intent, options in templates.items():
            if not isinstance(options, list) or not all(isinstance(option, str) for option in options):
                raise ValueError(f"templates for {intent!r} must be a list of strings")
            for option in options:
                _placeholders(option)
        self._templates = dict(templates)

    @classmethod
    def default(cls) -> ReplyTemplates:
        return cls(DEFAULT_TEMPLATES)

    @classmethod
    def load(cls, path: Path, *, base: Mapping[str, list[str]] | None = None) -> ReplyTemplates:
        """Templates from a JSON file, laid over `base` (the defaults): the file wins intent by intent."""
        overrides = json.loads(Path(path).read_text("utf-8"))
        if not isinstance(overrides, dict):
            raise ValueError(f"{path}: a reply template file holds a JSON object of intent → [templates]")
        merged = dict(DEFAULT_TEMPLATES if base is None else base)
        merged.update(overrides)
        return cls(merged)

    def render(self, key: str, slots: Mapping[str, object]) -> str | None:
        for template in self._templates.get(key, []):
            if _placeholders(template) <= slots.keys():
                return template.format(**{name: slots[name] for name in _placeholders(template)})
        return None

    def reply(self, intent: str, slots: Mapping[str, object]) -> str | None:
        return self.render(intent, slots) or self.render(FALLBACK_KEY, slots)

    def escalation_reply(self, slots: Mapping[str, object]) -> str | None:
        return self.render(ESCALATION_KEY, slots)
