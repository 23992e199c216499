"""PII redaction applied to every chat message before it is classified, stored, logged or published.

Each detection is replaced by a typed token such as `[CARD]`. Detection runs on a view of the message with
non-ASCII decimal digits (full-width, Arabic-Indic, ...) folded to ASCII, one character for one, so a value
typed in another script is found at the same offsets. Detections that overlap are merged into one span, so a
value two detectors disagree about is removed whole.

Redacted:
- Payment card numbers: 13-19 digits passing the Luhn check (`stdnum.luhn`) whose first digit is 2-6, 8 or 9
  (the issuer ranges of Visa, Mastercard, Amex, Diners, JCB, Discover, UnionPay, Maestro, Mir, RuPay, Troy),
  anywhere in a sentence and whatever word precedes them ("order", "ticket", "refund", "ref" ...), in one
  piece or in groups separated by up to three spaces, dashes, dots, commas, underscores or slashes. In a
  longer run of digit groups every sub-run of whole groups is tried, so a card next to an order number or a
  date is still found; after a `+` a phone number found on the same digits takes precedence.
- IBANs passing ISO 13616 (mod-97 check digits and the country's BBAN layout, `stdnum.iban`; national check
  digits are not required), in any letter case, in one piece or grouped by spaces, dashes or dots, also
  glued to a preceding word ("IBANDE89...").
- E-mail addresses: RFC 5322 local-part characters, a domain whose top-level label is letters or punycode.
- Phone numbers found by `phonenumbers.PhoneNumberMatcher` at `Leniency.VALID` (a number in an assigned range
  of its country, not merely of the right length) for every region in `PHONE_REGIONS`, with letters next to a
  number blanked first so "call+4930..." is seen too. International numbers (`+`) and national numbers
  written with grouping or brackets are redacted wherever they appear; bare digits (no `+`, no separator)
  are redacted unless an order keyword directly precedes them (see below). Any 6-15 digit run right after a
  phone keyword ("phone", "mobile", "tel", "call me", "whatsapp", "电话", "手机" ...) is redacted even when it
  is not a valid number.
- IPv4 and IPv6 addresses (validated with `ipaddress`), also glued to Chinese text.

Kept on purpose:
- Order numbers and other digit runs that are none of the above: they identify a purchase, not a person, and
  the reply and the human agent need them. So are a card-length run failing Luhn, a Luhn-valid run starting
  with 0, 1 (UATP airline cards, but also common 15-digit order ids such as "113542617735902") or 7, dates,
  amounts and version numbers.
- Bare digits directly after an order keyword ("order 98765432", "purchase no. 3707955617", "pedido",
  "Bestellung", "订单号" ..., or a long keyword one slip away: "ordedr"), even when they also form a valid
  national phone number somewhere: that is what an order number looks like. Only the word right before the
  number counts ("preferred", "refund" do not), and a card, an IBAN or a `+`/grouped phone number after such
  a keyword is still redacted.
- Not recognised (known limits): numbers spelt out in words, "name at domain dot com", national numbers of
  regions outside `PHONE_REGIONS` written without `+`, a card number with more digits glued onto it (a
  different number), and values split by characters other than the separators above.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, replace

import phonenumbers
from stdnum import iban, luhn
from stdnum.exceptions import ValidationError

EMAIL = "EMAIL"
PHONE = "PHONE"
CARD = "CARD"
IBAN = "IBAN"
IP_ADDRESS = "IP"
_CARD_AFTER_PLUS = "+CARD"

# Markets of the languages the chat model answers (English, Spanish, German, Portuguese, Chinese, French,
# Italian, Dutch). Each region is one matcher pass: the list trades coverage of national formats for time.
PHONE_REGIONS = (
    "US", "GB", "IE", "AU", "IN", "DE", "AT", "CH", "FR", "IT", "NL", "ES", "MX", "AR", "CO", "PT", "BR",
    "CN", "HK", "TW",
)  # fmt: skip
CARD_FIRST_DIGITS = frozenset("2345689")
MAX_PHONE_PASSES = 3


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
    """`str.translate` table: letters to line breaks, so the phone matcher does not refuse "tel+4930...".

    A line break, unlike a space, is no phone punctuation: "ab12ab12..." stays many short candidates
    instead of one long run the matcher would split and parse thousands of times."""

    def __missing__(self, code: int) -> int | str:
        value: int | str = "\n" if chr(code).isalpha() else code
        self[code] = value
        return value


_FOLD_DIGITS = _FoldDigits()
_BLANK_LETTERS = _BlankLetters()

_EMAIL = re.compile(
    r"[\w!#$%&'*+/=?^`{|}~.\-]+@(?:[^\W_](?:[\w\-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|(?i:xn--)[A-Za-z0-9\-]{1,59})"
    r"(?![\w\-])"
)
# Alphanumeric tokens joined by single separators; an IBAN is a window of consecutive tokens.
_TOKEN_RUN = re.compile(r"[A-Za-z0-9]+(?:[\s.\-][A-Za-z0-9]+)*")
_TOKEN = re.compile(r"[A-Za-z0-9]+")
_IBAN_START = re.compile(r"(?=[A-Za-z]{2}[0-9]{2})")
# Digit groups joined by up to three separator characters; a card is a window of consecutive groups.
_CARD_SEPARATOR = r"[\s.,_/\-\u2010-\u2015\u2212]"
_DIGIT_RUN = re.compile(rf"[0-9]+(?:{_CARD_SEPARATOR}{{1,3}}[0-9]+)*")
_DIGITS = re.compile(r"[0-9]+")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\d|\.\d)")
_IPV6 = re.compile(
    r"(?<![0-9A-Za-z_:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?"
    r"(?![0-9A-Za-z_:])"
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


def _card_spans(view: str) -> Iterator[tuple[int, int, bool]]:
    """Card number spans, each with whether it follows a `+` (then it may be a phone number instead)."""
    for run in _DIGIT_RUN.finditer(view):
        groups = [(match.start(), match.end()) for match in _DIGITS.finditer(view, run.start(), run.end())]
        for first, (start, _) in enumerate(groups):
            digits = ""
            for group_start, group_end in groups[first:]:
                digits += view[group_start:group_end]
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and digits[0] in CARD_FIRST_DIGITS and luhn.is_valid(digits):
                    yield start, group_end, start > 0 and view[start - 1] == "+"


def _iban_spans(view: str) -> Iterator[tuple[int, int]]:
    for run in _TOKEN_RUN.finditer(view):
        tokens = [(match.start(), match.end()) for match in _TOKEN.finditer(view, run.start(), run.end())]
        for first, (token_start, token_end) in enumerate(tokens):
            # Any position of the token may start one: "IBAN:DE89..." and "ibanDE89..." alike.
            for begin in _IBAN_START.finditer(view, token_start, token_end):
                compact = view[begin.start() : token_end]
                longest = token_end if 15 <= len(compact) <= 34 and iban_valid(compact) else None
                for next_start, next_end in tokens[first + 1 :]:
                    compact += view[next_start:next_end]
                    if len(compact) > 34:
                        break
                    if len(compact) >= 15 and iban_valid(compact):
                        longest = next_end
                if longest is not None:
                    yield begin.start(), longest


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


def _phone_spans(text: str, view: str, taken: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    for match in _PHONE_KEYWORD.finditer(view):
        yield match.start(1), match.end(1)
    chars = list(view.translate(_BLANK_LETTERS))
    for start, end in taken:
        # Already redacted: blanked so the matcher does not parse a card number once per region again.
        chars[start:end] = "\n" * (end - start)
    found: set[tuple[int, int]] = set()
    # The matcher skips past a candidate it could only partly use ("+1 201-555-0000 0412 340 000" yields the
    # US number and passes over the Australian one), so the text is searched again with the numbers found
    # blanked, until a pass finds nothing new.
    for _ in range(MAX_PHONE_PASSES):
        searched = "".join(chars)
        if not any(char.isdigit() for char in searched):
            return
        new_spans: list[tuple[int, int]] = []
        for region in PHONE_REGIONS:
            matcher = phonenumbers.PhoneNumberMatcher(searched, region, leniency=phonenumbers.Leniency.VALID)
            for number in matcher:
                span = (number.start, number.end)
                if span in found:
                    continue
                found.add(span)
                bare = number.raw_string.isdigit()
                if bare and _follows_order_keyword(text, number.start):
                    continue
                new_spans.append(span)
                yield span
        if not new_spans:
            return
        for start, end in new_spans:
            chars[start:end] = "\n" * (end - start)


_RECENT_SIZE = 16
_recent: OrderedDict[bytes, tuple[Redaction, ...]] = OrderedDict()
_recent_lock = threading.Lock()


def find_pii(text: str) -> list[Redaction]:
    # The chat service redacts each message twice (for its retry fingerprint, then in the model); the phone
    # matcher dominates the cost, so recent results are kept, keyed by a digest: no raw text is held.
    key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=32).digest()
    with _recent_lock:
        if key in _recent:
            _recent.move_to_end(key)
            return list(_recent[key])
    found = _find_pii(text)
    with _recent_lock:
        _recent[key] = tuple(found)
        while len(_recent) > _RECENT_SIZE:
            _recent.popitem(last=False)
    return found


def _find_pii(text: str) -> list[Redaction]:
    view = text.translate(_FOLD_DIGITS)
    candidates: list[tuple[str, int, int]] = []
    candidates += [(EMAIL, m.start(), m.end()) for m in _EMAIL.finditer(view)]
    candidates += [(IBAN, start, end) for start, end in _iban_spans(view)]
    cards = list(_card_spans(view))
    candidates += [(CARD, start, end) for start, end, after_plus in cards if not after_plus]
    candidates += [(IP_ADDRESS, start, end) for start, end in _ip_spans(view)]
    taken = [(start, end) for _, start, end in candidates]
    candidates += [(PHONE, start, end) for start, end in _phone_spans(text, view, taken)]
    # "+86 138 0013 8000" can pass Luhn: after a `+` a card number yields to a phone number found there.
    candidates += [(_CARD_AFTER_PLUS, start, end) for start, end, after_plus in cards if after_plus]
    # Overlapping detections become one span named after the detector listed first above: removing the union
    # never leaves a piece of a value behind.
    priority = {EMAIL: 0, IBAN: 1, CARD: 2, IP_ADDRESS: 3, PHONE: 4, _CARD_AFTER_PLUS: 5}
    spans: list[Redaction] = []
    for kind, start, end in sorted(candidates, key=lambda item: (item[1], -item[2])):
        if spans and start < spans[-1].end:
            last = spans[-1]
            kind = min(kind, last.kind, key=priority.__getitem__)
            spans[-1] = Redaction(kind, last.start, max(last.end, end))
        else:
            spans.append(Redaction(kind, start, end))
    return [replace(span, kind=CARD) if span.kind == _CARD_AFTER_PLUS else span for span in spans]


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
