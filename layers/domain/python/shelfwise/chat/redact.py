"""PII redaction applied to every chat message before it is classified, stored, logged or published.

Each detection is replaced by a typed token such as `[CARD]`. Detection runs on a view of the message with
non-ASCII decimal digits (full-width, Arabic-Indic, ...) folded to ASCII, one character for one, so a value
typed in another script is found at the same offsets. Detections that overlap are merged into one span, so a
value two detectors disagree about is removed whole.

Redacted:
- Payment card numbers: 13-19 digits passing the Luhn check (`stdnum.luhn`), anywhere in a sentence, whatever
  word precedes them ("order", "refund", "ref" ...), written in one piece or in groups separated by up to
  three spaces, dashes, dots, commas, underscores or slashes; inside a longer run of digit groups every
  sub-run of whole groups is tried. First digit 2-6, 8 or 9 (issuer ranges of the payment brands: Visa,
  Mastercard, Amex, Diners, JCB, Discover, UnionPay, Maestro, Mir, RuPay, Troy).
- IBANs that pass ISO 13616 (mod-97 and the country's BBAN layout, `stdnum.iban`), in any letter case, in one
  piece or grouped by spaces, dashes or dots.
- E-mail addresses (RFC 5322 local part characters, any domain with a letter or punycode top-level label).
- Phone numbers found by `phonenumbers.PhoneNumberMatcher` at `Leniency.VALID` (a number of an assigned
  range for its country, not just the right length) for the regions in `PHONE_REGIONS`, with letters next to
  a number blanked first so "call+4930..." is still seen. International numbers (`+`) and national numbers
  written with grouping or brackets are redacted wherever they appear; a number of bare digits is redacted
  unless an order keyword directly precedes it (see kept, below). Any 6-15 digit run right after a phone
  keyword ("phone", "mobile", "tel", "call me", "whatsapp", "电话", "手机" ...) is redacted even when it is
  not a valid number.
- IPv4 and IPv6 addresses (validated with `ipaddress`).

Kept on purpose:
- Order numbers and other digit runs that are none of the above; they identify a purchase, not a person, and
  the reply and the human agent need them. A card-length run failing Luhn, a Luhn-valid run starting 0, 1
  (UATP airline cards, but also common 15-digit order ids) or 7, dates, amounts, version numbers.
- A bare digit run (no `+`, no separators) directly after an order keyword ("order 98765432",
  "purchase no. 3707955617", "pedido", "Bestellung", "订单号" ..., or a long keyword misspelt by one slip:
  "ordedr"): it is what an order number looks like, even when it also happens to be a valid national phone
  number somewhere. Only the word right before the number counts ("preferred" or "refund" do not), and a
  Luhn-valid card, an IBAN or a `+`/grouped phone number after such a keyword is still redacted.
- Known limits: numbers spelt out in words, e-mail addresses written as "name at domain dot com", national
  numbers of regions outside `PHONE_REGIONS` written without `+`, and PII split by other characters than the
  separators above are not recognised.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

import phonenumbers
from stdnum import iban, luhn
from stdnum.exceptions import ValidationError

EMAIL = "EMAIL"
PHONE = "PHONE"
CARD = "CARD"
IBAN = "IBAN"
IP_ADDRESS = "IP"

# Markets of the languages the chat model answers (English, Spanish, German, Portuguese, Chinese, French,
# Italian, Dutch). Each region is one matcher pass: the list trades coverage of national formats for time.
PHONE_REGIONS = (
    "US", "GB", "IE", "AU", "IN", "DE", "AT", "CH", "FR", "IT", "NL", "ES", "MX", "AR", "CO", "PT", "BR",
    "CN", "HK", "TW",
)  # fmt: skip
CARD_FIRST_DIGITS = frozenset("2345689")


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


class _FoldDigits(dict[int, int | str]):
    """`str.translate` table: any Unicode decimal digit to its ASCII digit, everything else unchanged."""

    def __missing__(self, code: int) -> int | str:
        char = chr(code)
        value: int | str = str(unicodedata.decimal(char)) if char.isdecimal() else code
        self[code] = value
        return value


class _BlankLetters(dict[int, int | str]):
    """`str.translate` table: letters to spaces, so the phone matcher does not refuse "tel+4930..."."""

    def __missing__(self, code: int) -> int | str:
        value: int | str = " " if chr(code).isalpha() else code
        self[code] = value
        return value


_FOLD_DIGITS = _FoldDigits()
_BLANK_LETTERS = _BlankLetters()

_EMAIL = re.compile(
    r"[\w!#$%&'*+/=?^`{|}~.\-]+@(?:[^\W_](?:[\w\-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[A-Za-z0-9\-]{1,59})"
    r"(?![\w\-])"
)
# Alphanumeric tokens joined by single separators; an IBAN is a window of consecutive tokens.
_TOKEN_RUN = re.compile(r"[A-Za-z0-9]+(?:[\s.\-][A-Za-z0-9]+)*")
_TOKEN = re.compile(r"[A-Za-z0-9]+")
_IBAN_START = re.compile(r"[A-Za-z]{2}[0-9]{2}")
# Digit groups joined by up to three separator characters; a card is a window of consecutive groups.
_CARD_SEPARATOR = r"[\s.,_/\-\u2010-\u2015\u2212]"
_DIGIT_RUN = re.compile(rf"[0-9]+(?:{_CARD_SEPARATOR}{{1,3}}[0-9]+)*")
_DIGITS = re.compile(r"[0-9]+")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\d|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])"
)
_PHONE_KEYWORD = re.compile(
    r"(?<![a-z])(?:phone|mobile|cell|tel|telephone|call me(?: on| at)?|whatsapp|fax|number is"
    r"|电话|手机|联系方式|号码)"
    r"[^\d+]{0,12}(\+?\d(?:[ .\-()]*\d){5,14})",
    re.IGNORECASE,
)
# The word directly before a number, past "number", "no.", "#", ":" and "is": "order no. 123" -> "order".
_WORD_BEFORE_NUMBER = re.compile(
    r"(?<!\w)(\w+)(?:\s*(?:number|no\.?|num|id|nr\.?|n[º°o]\.?))?\s*(?:is|:|\uff1a|#|是|为)?\s*#?\s*$",
    re.IGNORECASE,
)
_ORDER_WORDS = frozenset(
    {"order", "orders", "purchase", "purchases", "invoice", "tracking", "ticket", "reference", "ref",
     "pedido", "compra", "factura", "bestellung", "bestellnummer", "auftrag", "rechnung", "encomenda",
     "commande", "ordine"}
)  # fmt: skip
_ORDER_WORDS_CJK = ("订单", "订单号", "单号", "编号")
# Customers misspell the keyword ("ordedr", "purchaes"); a long keyword one slip away still counts.
_TYPO_SIMILARITY = 0.8


def _is_order_word(word: str) -> bool:
    word = word.lower()
    if word in _ORDER_WORDS or word.endswith(_ORDER_WORDS_CJK):
        return True
    return len(word) >= 5 and any(
        len(keyword) >= 5 and difflib.SequenceMatcher(None, word, keyword).ratio() >= _TYPO_SIMILARITY
        for keyword in _ORDER_WORDS
    )


def _follows_order_keyword(text: str, start: int) -> bool:
    match = _WORD_BEFORE_NUMBER.search(text[max(0, start - 60) : start])
    return match is not None and _is_order_word(match.group(1))


def luhn_valid(digits: str) -> bool:
    return luhn.is_valid(digits)


def iban_valid(candidate: str) -> bool:
    """ISO 13616: mod-97 check digits and the country's BBAN layout (national check digits not required)."""
    try:
        iban.validate(candidate, check_country=False)
    except ValidationError:
        return False
    return True


def _card_spans(view: str) -> Iterator[tuple[int, int]]:
    for run in _DIGIT_RUN.finditer(view):
        groups = [(match.start(), match.end()) for match in _DIGITS.finditer(view, run.start(), run.end())]
        for first, (start, _) in enumerate(groups):
            if start > 0 and view[start - 1] == "+":
                continue  # "+86 138 ..." is a phone number's country code, never a card's first digits
            digits = ""
            for group_start, group_end in groups[first:]:
                digits += view[group_start:group_end]
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and digits[0] in CARD_FIRST_DIGITS and luhn.is_valid(digits):
                    yield start, group_end


def _iban_spans(view: str) -> Iterator[tuple[int, int]]:
    for run in _TOKEN_RUN.finditer(view):
        tokens = [(match.start(), match.end()) for match in _TOKEN.finditer(view, run.start(), run.end())]
        for first, (start, _) in enumerate(tokens):
            if not _IBAN_START.match(view, start):
                continue
            compact = ""
            longest = None
            for token_start, token_end in tokens[first:]:
                compact += view[token_start:token_end]
                if len(compact) > 34:
                    break
                if len(compact) >= 15 and iban_valid(compact):
                    longest = token_end
            if longest is not None:
                yield start, longest


def _ip_spans(view: str) -> Iterator[tuple[int, int]]:
    for match in _IPV4.finditer(view):
        if all(int(octet) <= 255 for octet in match.group(0).split(".")):
            yield match.start(), match.end()
    for match in _IPV6.finditer(view):
        try:
            ipaddress.IPv6Address(match.group(0))
        except ValueError:
            continue
        yield match.start(), match.end()


def _phone_spans(text: str, view: str) -> Iterator[tuple[int, int]]:
    for match in _PHONE_KEYWORD.finditer(view):
        yield match.start(1), match.end(1)
    letters_blank = view.translate(_BLANK_LETTERS)
    found: set[tuple[int, int]] = set()
    for region in PHONE_REGIONS:
        matcher = phonenumbers.PhoneNumberMatcher(letters_blank, region, leniency=phonenumbers.Leniency.VALID)
        for match in matcher:
            span = (match.start, match.end)
            if span in found:
                continue
            found.add(span)
            bare = match.raw_string.isdigit()
            if bare and _follows_order_keyword(text, match.start):
                continue
            yield span


def find_pii(text: str) -> list[Redaction]:
    view = text.translate(_FOLD_DIGITS)
    candidates: list[tuple[str, int, int]] = []
    candidates += [(EMAIL, m.start(), m.end()) for m in _EMAIL.finditer(view)]
    candidates += [(IBAN, start, end) for start, end in _iban_spans(view)]
    candidates += [(CARD, start, end) for start, end in _card_spans(view)]
    candidates += [(IP_ADDRESS, start, end) for start, end in _ip_spans(view)]
    candidates += [(PHONE, start, end) for start, end in _phone_spans(text, view)]
    # Overlapping detections become one span named after the detector listed first above: removing the union
    # never leaves a piece of a value behind.
    priority = {EMAIL: 0, IBAN: 1, CARD: 2, IP_ADDRESS: 3, PHONE: 4}
    spans: list[Redaction] = []
    for kind, start, end in sorted(candidates, key=lambda item: (item[1], -item[2])):
        if spans and start < spans[-1].end:
            last = spans[-1]
            kind = min(kind, last.kind, key=priority.__getitem__)
            spans[-1] = Redaction(kind, last.start, max(last.end, end))
        else:
            spans.append(Redaction(kind, start, end))
    return spans


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
