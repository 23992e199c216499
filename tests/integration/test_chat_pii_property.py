# ruff: noqa: RUF001 - Chinese messages use full-width punctuation on purpose
"""Generated PII planted in generated chat messages never leaves the chat function raw.

Each example sends one message through the real handler (`functions/chat/app.py`) against in-process moto
and looks for the planted values — as typed, and as bare digits for cards, IBANs and phone numbers — in the
handler's response, every item of the chat-sessions table, every event published to the bus and every log
record the function wrote. A plain order number planted beside them must still come back in the
order-number slot: redaction that deleted every digit would pass the first check and fail this one.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import string
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto_platform import local_platform
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from shelfwise.aws import events as aws_events
from shelfwise.chat.model import ChatModel
from shelfwise.chat.redact import PHONE_REGIONS
from shelfwise.model_serving import ModelStore
from shelfwise.settings import Settings
from shelfwise_infra import spec
from shelfwise_local.functions import context_for, load_handler
from stdnum import iban, luhn

DIGITS_AS_LETTERS = str.maketrans("0123456789", "ghijklmnop")

pytestmark = pytest.mark.integration

CHAT = spec.function("chat")
EXAMPLES = 2000


# --- valid PII ---------------------------------------------------------------------------------------------

# Issuer prefixes of the card brands (Visa, Mastercard, Amex, Diners, JCB, Discover, UnionPay, Maestro, Mir,
# RuPay, Troy); the length is drawn separately over the whole 13-19 range.
CARD_PREFIXES = [
    "4",
    "51",
    "55",
    "2221",
    "2720",
    "34",
    "37",
    "36",
    "3528",
    "6011",
    "65",
    "62",
    "6759",
    "2200",
]
CARD_PREFIXES += ["81", "9792"]


def luhn_complete(body: str) -> str:
    """`body` plus the check digit that makes it pass Luhn (written out here, independent of the code under
    test)."""
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return body + str((10 - total % 10) % 10)


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(CARD_PREFIXES))
    length = draw(st.integers(13, 19))
    body = prefix + "".join(draw(st.lists(st.sampled_from(string.digits), min_size=length - len(prefix) - 1,
                                          max_size=length - len(prefix) - 1)))  # fmt: skip
    number = luhn_complete(body)
    separator = draw(st.sampled_from(["", " ", "-", ".", " - "]))
    if not separator:
        return number
    size = draw(st.sampled_from([3, 4, 5, 6]))
    return separator.join(number[i : i + size] for i in range(0, len(number), size))


# BBAN layouts (n digits, a upper-case letters, c letters or digits) of countries customers bank in.
IBAN_LAYOUTS = {
    "DE": "18n",
    "GB": "4a14n",
    "ES": "20n",
    "FR": "10n11c2n",
    "PT": "21n",
    "BR": "23n1a1c",
    "NL": "4a10n",
    "IT": "1a10n12c",
    "AT": "16n",
    "CH": "5n12c",
    "BE": "12n",
}


def iban_check_digits(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    numeric = "".join(str(int(char, 36)) for char in rearranged)
    return f"{98 - int(numeric) % 97:02d}"


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(sorted(IBAN_LAYOUTS)))
    alphabets = {"n": string.digits, "a": string.ascii_uppercase, "c": string.digits + string.ascii_uppercase}
    bban = ""
    for count, kind in _layout(IBAN_LAYOUTS[country]):
        bban += "".join(draw(st.lists(st.sampled_from(alphabets[kind]), min_size=count, max_size=count)))
    number = country + iban_check_digits(country, bban) + bban
    case = draw(st.sampled_from(["upper", "lower", "mixed"]))
    if case == "lower":
        number = number.lower()
    elif case == "mixed":
        flips = draw(st.lists(st.booleans(), min_size=len(number), max_size=len(number)))
        number = "".join(char.lower() if flip else char for char, flip in zip(number, flips, strict=True))
    if draw(st.booleans()):
        number = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return number


def _layout(layout: str) -> Iterator[tuple[int, str]]:
    digits = ""
    for char in layout:
        if char.isdigit():
            digits += char
        else:
            yield int(digits), char
            digits = ""


# National formats are only readable with the region known: those come from every region redaction reads
# national numbers for; international formats also from elsewhere.
NATIONAL_REGIONS = list(PHONE_REGIONS)
INTERNATIONAL_ONLY_REGIONS = ["JP", "KR", "RU", "ZA", "SE", "PL", "NG", "AE"]
FORMATS = {
    "E164": PhoneNumberFormat.E164,
    "INTERNATIONAL": PhoneNumberFormat.INTERNATIONAL,
    "NATIONAL": PhoneNumberFormat.NATIONAL,
}


@st.composite
def phone_numbers(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(NATIONAL_REGIONS + INTERNATIONAL_ONLY_REGIONS))
    kind = draw(st.sampled_from([PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE]))
    example = phonenumbers.example_number_for_type(region, kind)
    assert example is not None
    national = str(example.national_number)
    tail = draw(st.integers(0, 9999))
    candidate = phonenumbers.parse(f"+{example.country_code}{national[:-4]}{tail:04d}")
    # Most tails stay valid; an unassigned one falls back to the library's own example of that type.
    number = candidate if phonenumbers.is_valid_number(candidate) else example
    style = draw(st.sampled_from(["E164", "INTERNATIONAL", "NATIONAL"]))
    if region in INTERNATIONAL_ONLY_REGIONS and style == "NATIONAL":
        style = "INTERNATIONAL"
    return phonenumbers.format_number(number, FORMATS[style])


ip_addresses = st.one_of(
    st.ip_addresses(v=4).filter(lambda address: address.is_global).map(str),
    st.ip_addresses(v=6)
    .filter(lambda address: address.is_global)
    .flatmap(lambda address: st.sampled_from([str(address), address.exploded, str(address).upper()])),
)

PII = {
    "card": card_numbers(),
    "iban": ibans(),
    "email": st.emails(),
    "phone": phone_numbers(),
    "ip": ip_addresses,
}


# --- messages ----------------------------------------------------------------------------------------------

# `{}` is where the PII goes; neighbouring keywords are the ones that used to switch redaction off.
LEADS = {
    "en": [
        "please refund {} now",
        "my order {} hasn't arrived",
        "order number {} is wrong",
        "ticket {} is still open",
        "the purchase {} was charged twice",
        "my preferred one is {}",
        "preferred {}",
        "ref {}",
        "ref: {}",
        "my card is {}",
        "refund to {} please",
        "you can reach me at {}",
        "{}",
    ],
    "es": ["por favor reembolsen a {}", "mi pedido {} no ha llegado", "mi tarjeta es {}", "contacto: {}"],
    "de": ["Bitte erstatten Sie auf {}", "Meine Bestellung {} ist nicht angekommen", "meine Karte ist {}"],
    "pt": ["meu pedido {} não chegou", "reembolso para {} por favor", "o meu cartão é {}"],
    "zh": ["订单 {} 还没发货", "请退款到{}", "我的卡号是{}", "订单号：{}，谢谢"],
}
OPENINGS = {
    "en": ["Hi there.", "Hello,", "I need help.", ""],
    "es": ["Hola,", "Buenos días.", ""],
    "de": ["Hallo,", "Guten Tag.", ""],
    "pt": ["Olá,", "Bom dia.", ""],
    "zh": ["你好，", "您好。", ""],
}
ORDER_PHRASES = {
    "en": "Order {} is the one I mean.",
    "es": "El pedido {} es el que digo.",
    "de": "Es geht um Bestellung {}.",
    "pt": "É a encomenda {}.",
    "zh": "订单号 {} 是我说的那个。",
}
ANGRY = {
    "en": "This is the third time my parcel is late. I want to talk to a real person now!",
    "es": "Es inaceptable, quiero hablar con una persona ahora mismo!",
    "de": "Das ist unverschämt, ich will sofort mit einem Menschen sprechen!",
    "pt": "Isto é inaceitável, quero falar com uma pessoa agora!",
    "zh": "太差了，我要投诉，马上让人工客服联系我！",
}


@dataclass(frozen=True)
class Planted:
    kind: str
    value: str


@dataclass(frozen=True)
class Message:
    text: str
    planted: tuple[Planted, ...]
    order_number: str | None


@st.composite
def messages(draw: st.DrawFn) -> Message:
    language = draw(st.sampled_from(sorted(LEADS)))
    planted = tuple(
        Planted(kind, draw(PII[kind]))
        for kind in draw(st.lists(st.sampled_from(sorted(PII)), min_size=1, max_size=3))
    )
    parts = [draw(st.sampled_from(OPENINGS[language]))]
    for item in planted:
        lead = draw(st.sampled_from(LEADS[language] + LEADS["en"][:4]))
        parts.append(lead.replace("{}", item.value))
    order_number = None
    if draw(st.booleans()):
        order_number = str(draw(st.integers(10_000_000, 99_999_999)))
        parts.insert(draw(st.integers(0, len(parts))), ORDER_PHRASES[language].replace("{}", order_number))
    if draw(st.integers(0, 3)) == 0:
        parts.append(ANGRY[language])
    joiner = draw(st.sampled_from([" ", ", ", ". ", "\n", " - "]))
    return Message(joiner.join(part for part in parts if part), planted, order_number)


def raw_forms(item: Planted) -> set[str]:
    """What must not be found anywhere: the value as typed and, for numbers, its bare digits (a slot or an
    amount could print it without the separators)."""
    forms = {item.value}
    if item.kind in {"card", "iban", "phone"}:
        forms.add("".join(char for char in item.value if char.isdigit()))
    if item.kind == "iban":
        forms.add(item.value.replace(" ", ""))
    return {form.lower() for form in forms}


# --- the platform ------------------------------------------------------------------------------------------


class RecordCapture(logging.Handler):
    """Every record the function logs, formatted the way Powertools prints it plus all its attributes."""

    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__(logging.DEBUG)
        self.lines = io.StringIO()
        if formatter is not None:
            self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.write(self.format(record) + "\n")
        self.lines.write(json.dumps(record.__dict__, default=str, ensure_ascii=False) + "\n")

    def take(self) -> str:
        text = self.lines.getvalue()
        self.lines = io.StringIO()
        return text


class RecordingEvents:
    """The EventBridge client the handler publishes through, keeping every `PutEvents` entry it sends."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.entries: list[dict[str, Any]] = []

    def put_events(self, **request: Any) -> Any:
        self.entries += request["Entries"]
        return self.client.put_events(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def take(self) -> list[dict[str, Any]]:
        entries, self.entries = self.entries, []
        return entries


@dataclass
class ChatPlatform:
    module: Any
    table: Any
    events: RecordingEvents
    logs: RecordCapture

    def send(self, text: str, session_id: str, subject: str) -> dict[str, Any]:
        event = copy.deepcopy(TEMPLATE_EVENT)
        event["body"] = json.dumps({"text": text, "session_id": session_id}, ensure_ascii=False)
        event["requestContext"]["authorizer"] = {"principal": "customer", "subject": subject, "scopes": ""}
        event["requestContext"]["requestId"] = str(uuid.uuid4())
        return load_handler("chat")(event, context_for(CHAT))

    def take_items(self) -> list[dict[str, Any]]:
        """Every item of the sessions table, removed after reading so the next scan stays small."""
        items = self.table.scan(ConsistentRead=True)["Items"]
        for item in items:
            self.table.delete_item(Key={"session_id": item["session_id"]})
        return items


TEMPLATE_EVENT = json.loads((spec.EVENTS_DIR / "chat" / "post-message.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def chat_platform() -> Iterator[ChatPlatform]:
    with pytest.MonkeyPatch.context() as monkeypatch, local_platform(monkeypatch, CHAT.name):
        published = RecordingEvents(boto3.client("events"))
        monkeypatch.setattr(aws_events, "client", lambda: published)
        module = sys.modules[load_handler("chat").__module__]
        monkeypatch.setattr(
            module,
            "model_store",
            ModelStore(
                "chat",
                ChatModel.load,
                models_table=lambda: Settings.from_env().models_table,
                fallback=lambda: ChatModel.load(module.DEFAULT_MODEL_DIR),
                fallback_version="default",
            ),
        )
        module._service.cache_clear()
        function_logger = module.logger._logger
        capture = RecordCapture(module.logger.registered_formatter)
        function_logger.addHandler(capture)
        logging.getLogger().addHandler(capture)
        try:
            yield ChatPlatform(
                module=module,
                table=boto3.resource("dynamodb").Table(spec.CHAT_SESSIONS_TABLE.local_name),
                events=published,
                logs=capture,
            )
        finally:
            function_logger.removeHandler(capture)
            logging.getLogger().removeHandler(capture)
            module._service.cache_clear()


# --- the property ------------------------------------------------------------------------------------------


def test_no_planted_pii_leaves_the_chat_function_and_order_numbers_survive(
    chat_platform: ChatPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(message=messages(), subject=st.sampled_from(["c-1042", "c-2077", "c-9313"]))
    def check(message: Message, subject: str) -> None:
        # Letters only, as the server makes them: ids that look like personal data are refused (422).
        session_id = "pii-" + uuid.uuid4().hex.translate(DIGITS_AS_LETTERS)
        response = chat_platform.send(message.text, session_id, subject)
        assert response["statusCode"] == 200, response["body"]
        body = json.loads(response["body"])
        items = chat_platform.take_items()
        published = chat_platform.events.take()
        printed = capsys.readouterr()
        places = {
            "response": json.dumps(response, ensure_ascii=False) + json.dumps(body, ensure_ascii=False),
            "sessions table": json.dumps(items, default=str, ensure_ascii=False),
            "published events": json.dumps(published, ensure_ascii=False)
            + json.dumps([json.loads(entry["Detail"]) for entry in published], ensure_ascii=False),
            "logs": chat_platform.logs.take() + printed.out + printed.err,
        }
        for item in message.planted:
            for form in raw_forms(item):
                for place, content in places.items():
                    assert form not in content.lower(), f"{item.kind} {item.value!r} found in the {place}"
        assert any(stored["session_id"] == session_id for stored in items)
        assert "chat message triaged" in places["logs"]
        if message.order_number:
            assert body["slots"].get("order_number") == message.order_number, body["redacted_text"]
            assert message.order_number in body["redacted_text"]
            seen["order numbers kept"] += 1
        seen["examples"] += 1
        seen["published"] += len(published)
        seen.update(f"planted {item.kind}" for item in message.planted)

    check()
    # The run exercised every path it claims to check.
    assert seen["examples"] >= EXAMPLES, seen
    assert seen["published"] >= EXAMPLES // 20, seen
    assert seen["order numbers kept"] >= EXAMPLES // 5, seen
    assert all(seen[f"planted {kind}"] >= EXAMPLES // 20 for kind in PII), seen


def test_the_generators_plant_valid_values() -> None:
    for strategy, valid in (
        (card_numbers(), lambda value: 13 <= len(_digits(value)) <= 19 and luhn.is_valid(_digits(value))),
        (ibans(), lambda value: _iban_checks_out(value)),
        (phone_numbers(), lambda value: phonenumbers.is_valid_number(_parse_any(value))),
    ):
        values = _draw_many(strategy, 100)
        assert all(valid(value) for value in values), [value for value in values if not valid(value)]


def _iban_checks_out(value: str) -> bool:
    try:  # mod-97 and the country's layout; national check digits are not part of what is planted
        iban.validate(value, check_country=False)
    except ValueError:
        return False
    return True


def _digits(value: str) -> str:
    return "".join(char for char in value if char.isdigit())


def _parse_any(value: str) -> phonenumbers.PhoneNumber:
    if value.startswith("+"):
        return phonenumbers.parse(value)
    for region in NATIONAL_REGIONS:
        number = phonenumbers.parse(value, region)
        if phonenumbers.is_valid_number(number):
            return number
    return phonenumbers.parse(value, "US")


def _draw_many(strategy: st.SearchStrategy[str], count: int) -> list[str]:
    values: list[str] = []

    @settings(max_examples=count, database=None, deadline=None)
    @given(strategy)
    def collect(value: str) -> None:
        values.append(value)

    collect()
    return values
