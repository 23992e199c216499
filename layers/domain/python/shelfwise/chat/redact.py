"""PII redaction applied to every chat message before it is classified, stored or logged.

Redacted: e-mail addresses, phone numbers (international `+`/`00` prefixes, separated national formats,
Chinese mobile numbers, and digit runs that follow a phone keyword), payment card numbers (13-19 digits,
starting 2-6) that pass the Luhn check, IBANs that pass the ISO 13616 mod-97 check, IPv4 and IPv6 addresses.

Kept on purpose: order numbers and other bare digit runs that are not one of the above. They identify a
purchase, not a person, and the reply and the human agent both need them; a card-length digit run that fails
the Luhn check is treated the same way. Each detection is replaced by a typed token such as `[EMAIL]`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

EMAIL = "EMAIL"
PHONE = "PHONE"
CARD = "CARD"
IBAN = "IBAN"
IP_ADDRESS = "IP"


@dataclass(frozen=True)
class Redaction:
    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class RedactionResult:
    text: str
    redactions: tuple[Redaction, ...]

    @property
    def kinds(self) -> list[str]:
        return sorted({redaction.kind for redaction in self.redactions})


_EMAIL = re.compile(r"[\w.+\-']+@[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z]{2,}", re.UNICODE)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b")
_CARD = re.compile(r"(?<![\d.])\d(?:[ \-]?\d){12,18}(?![\d])")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\d|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_PHONE_INTERNATIONAL = re.compile(r"(?<![\w+])(?:\+|00)[1-9]\d{0,3}(?:[ .\-]?\(?\d{1,5}\)?){2,6}(?!\d)")
_PHONE_SEPARATED = re.compile(
    r"(?<![\w\-])(?:\(\d{2,5}\)[ .\-]?\d{2,5}(?:[ .\-]\d{2,5}){0,3}"
    r"|\d{2,5}(?:[.\-]\d{2,5}){1,4}"
    r"|\d{3} \d{3,4} \d{3,4})(?![\w\-])"
)
_PHONE_CHINA_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_PHONE_KEYWORD = re.compile(
    r"(?<![a-z])(?:phone|mobile|cell|tel|telephone|call me(?: on| at)?|whatsapp|fax|number is"
    r"|电话|手机|联系方式|号码)"
    r"[^\d+]{0,12}(\+?\d(?:[ .\-()]*\d){5,14})",
    re.IGNORECASE,
)
_DATE = re.compile(r"\d{4}[.\-/]\d{1,2}[.\-/]\d{1,2}|\d{1,2}[.\-/]\d{1,2}[.\-/]\d{2,4}")
_ORDER_CONTEXT = re.compile(
    r"(order|purchase|invoice|tracking|ticket|ref|订单|单号)\W{0,3}\w{0,10}\W{0,3}$", re.I
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    numeric = "".join(str(int(char, 36)) for char in rearranged)
    return int(numeric) % 97 == 1


def _digit_count(value: str) -> int:
    return sum(char.isdigit() for char in value)


def _is_order_reference(text: str, start: int) -> bool:
    return bool(_ORDER_CONTEXT.search(text[max(0, start - 30) : start]))


def find_pii(text: str) -> list[Redaction]:
    found: list[Redaction] = []

    def overlaps(start: int, end: int) -> bool:
        return any(start < other.end and other.start < end for other in found)

    def add(kind: str, start: int, end: int) -> None:
        if not overlaps(start, end):
            found.append(Redaction(kind, start, end))

    for match in _EMAIL.finditer(text):
        add(EMAIL, match.start(), match.end())
    for match in _IBAN.finditer(text):
        # The pattern may run on into a following upper-case word; drop trailing groups until it checks out.
        candidate = match.group(0)
        while candidate and not iban_valid(candidate):
            candidate = candidate.rpartition(" ")[0]
        if candidate:
            add(IBAN, match.start(), match.start() + len(candidate))
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        # Card numbers start with 2-6 (Mastercard 2-series, Amex/Diners 3, Visa 4, Mastercard 5, Discover/
        # UnionPay 6); a Luhn-valid digit run right after "order" is an order number (1 in 10 pass by chance).
        if (
            13 <= len(digits) <= 19
            and digits[0] in "23456"
            and luhn_valid(digits)
            and not _is_order_reference(text, match.start())
        ):
            add(CARD, match.start(), match.end())
    for match in _IPV4.finditer(text):
        if all(int(octet) <= 255 for octet in match.group(0).split(".")):
            add(IP_ADDRESS, match.start(), match.end())
    for match in _IPV6.finditer(text):
        try:
            ipaddress.IPv6Address(match.group(0))
        except ValueError:
            continue
        add(IP_ADDRESS, match.start(), match.end())
    for match in _PHONE_KEYWORD.finditer(text):
        add(PHONE, match.start(1), match.end(1))
    for match in _PHONE_INTERNATIONAL.finditer(text):
        candidate = match.group(0)
        if candidate.startswith("00"):
            # "00" + digits with no separator reads as a zero-padded order number ("00123842"), not a phone.
            if candidate.isdigit() or _is_order_reference(text, match.start()):
                continue
            candidate = candidate[2:]
        if 8 <= _digit_count(candidate) <= 15:
            add(PHONE, match.start(), match.end())
    for pattern in (_PHONE_SEPARATED, _PHONE_CHINA_MOBILE):
        for match in pattern.finditer(text):
            candidate = match.group(0)
            if _DATE.fullmatch(candidate) or _is_order_reference(text, match.start()):
                continue
            if 7 <= _digit_count(candidate) <= 15:
                add(PHONE, match.start(), match.end())
    found.sort(key=lambda redaction: redaction.start)
    return found


def redact(text: str) -> RedactionResult:
    redactions = find_pii(text)
    pieces: list[str] = []
    cursor = 0
    for redaction in redactions:
        pieces.append(text[cursor : redaction.start])
        pieces.append(f"[{redaction.kind}]")
        cursor = redaction.end
    pieces.append(text[cursor:])
    return RedactionResult("".join(pieces), tuple(redactions))
