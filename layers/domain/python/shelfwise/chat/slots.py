"""Slot extraction: the facts a reply or an agent needs from a message (order number, e-mail, amount, ...).

Order number, tracking number and amounts are read from the redacted text, where every card number, IBAN,
phone number, e-mail and IP address is already a `[KIND]` token, so no slot (and no reply built from slots)
can carry one of them, whatever keyword precedes it. E-mail and phone come from the redaction's spans and are
returned masked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shelfwise.chat.redact import EMAIL, PHONE, RedactionResult, redact

_ORDER_NUMBER = re.compile(
    r"(?:order|purchase|invoice|pedido|bestellung|bestellnummer|encomenda|commande|ordine|订单|单号)(?:\s*(?:number|no\.?|num|id|#|nr\.?|号|编号))?\s*(?:is|:|#|是|为)?\s*#?\s*"
    r"([A-Za-z]{0,4}[\-]?\d[\dA-Za-z\-]{3,24})",
    re.IGNORECASE,
)
_HASH_NUMBER = re.compile(r"(?<!\w)#\s?([A-Za-z]{0,4}\-?\d[\dA-Za-z\-]{3,24})")
# Last resort: a long bare digit run that redaction left alone is most often an order number typed with a
# misspelt keyword ("oder 113542617735902").
_BARE_NUMBER = re.compile(r"(?<![\w.,$€£¥])(\d{6,20})(?![\w,]|\.\d)")
_TRACKING = re.compile(r"tracking(?:\s*(?:number|no\.?|id|code))?\s*(?:is|:|#)?\s*([A-Za-z0-9]{8,30})", re.I)
_CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "CNY", "￥": "CNY", "元": "CNY", "₹": "INR"}
_CURRENCY_CODES = r"USD|EUR|GBP|CNY|RMB|JPY|AUD|CAD|CHF|INR|BRL|dollars?|euros?|pounds?|yuan|块"
_NUMBER = r"\d{1,3}(?:[,\s]\d{3})*(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?"
_AMOUNT_PREFIX = re.compile(rf"([$€£¥￥₹]|(?:{_CURRENCY_CODES})\s?)\s?({_NUMBER})(?!\d)", re.IGNORECASE)
_AMOUNT_SUFFIX = re.compile(rf"(?<![\w.])({_NUMBER})\s?([元€]|(?:{_CURRENCY_CODES})\b)", re.IGNORECASE)
_CODE_ALIASES = {"dollar": "USD", "euro": "EUR", "pound": "GBP", "yuan": "CNY", "rmb": "CNY", "块": "CNY"}


# The slot names a reply template may use as `{placeholders}` (see `Slots.as_dict`); `amount` is the first
# amount of the message, formatted "12.50 EUR". The list of all amounts is for agents, not for templates.
TEMPLATE_PLACEHOLDERS = ("order_number", "tracking_number", "email", "phone", "amount")


@dataclass(frozen=True)
class Amount:
    value: float
    currency: str


@dataclass(frozen=True)
class Slots:
    order_number: str | None = None
    tracking_number: str | None = None
    email: str | None = None
    phone: str | None = None
    amounts: tuple[Amount, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, object]:
        values: dict[str, object] = {
            "order_number": self.order_number,
            "tracking_number": self.tracking_number,
            "email": self.email,
            "phone": self.phone,
        }
        if self.amounts:
            values["amount"] = f"{self.amounts[0].value:.2f} {self.amounts[0].currency}"
            values["amounts"] = [
                {"value": amount.value, "currency": amount.currency} for amount in self.amounts
            ]
        return {key: value for key, value in values.items() if value is not None}


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    # The first character is shown only when it gives the address away neither alone ("j@x.com") nor
    # together with the mask ("*@x.com" inside "***@x.com").
    masked = f"{local[:1] if len(local) >= 3 else ''}***@{domain}"
    return "***" if address.lower() in masked.lower() else masked


def mask_phone(number: str) -> str:
    digits = re.sub(r"\D", "", number)
    return "***" + digits[-2:]


def _currency(token: str) -> str:
    token = token.strip()
    if token in _CURRENCY_SYMBOLS:
        return _CURRENCY_SYMBOLS[token]
    lowered = token.lower().rstrip("s")
    return _CODE_ALIASES.get(lowered, token.upper())


def _amount(number: str, currency: str) -> Amount:
    return Amount(float(re.sub(r"[,\s]", "", number)), _currency(currency))


def extract_slots(text: str, redaction: RedactionResult | None = None) -> Slots:
    """Slots of `text`; pass `redaction` when the caller already has `redact(text)`."""
    if redaction is None:
        redaction = redact(text)
    email = next((text[item.start : item.end] for item in redaction.redactions if item.kind == EMAIL), None)
    phone = next((text[item.start : item.end] for item in redaction.redactions if item.kind == PHONE), None)
    clean = redaction.text
    order_match = _ORDER_NUMBER.search(clean) or _HASH_NUMBER.search(clean) or _BARE_NUMBER.search(clean)
    tracking = next(
        (m.group(1) for m in _TRACKING.finditer(clean) if any(c.isdigit() for c in m.group(1))), None
    )
    amounts = [(m.start(), _amount(m.group(2), m.group(1))) for m in _AMOUNT_PREFIX.finditer(clean)]
    taken = [start for start, _ in amounts]
    for match in _AMOUNT_SUFFIX.finditer(clean):
        if all(abs(match.start() - start) > 3 for start in taken):
            amounts.append((match.start(), _amount(match.group(1), match.group(2))))
    amounts.sort(key=lambda item: item[0])
    return Slots(
        order_number=order_match.group(1) if order_match else None,
        tracking_number=tracking,
        email=mask_email(email) if email else None,
        phone=mask_phone(phone) if phone else None,
        amounts=tuple(amount for _, amount in amounts),
    )
