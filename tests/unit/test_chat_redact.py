# ruff: noqa: RUF001 - Chinese test messages use full-width punctuation on purpose
from __future__ import annotations

import pytest
from shelfwise.chat.redact import iban_valid, luhn_valid, redact


@pytest.mark.parametrize(
    "card",
    ["4111 1111 1111 1111", "4111-1111-1111-1111", "5500005555555559", "378282246310005", "6011000990139424"],
)
def test_luhn_valid_card_numbers_are_redacted(card: str) -> None:
    result = redact(f"please charge {card} today")
    assert result.text == "please charge [CARD] today"
    assert [r.kind for r in result.redactions] == ["CARD"]


def test_card_length_number_failing_luhn_is_kept_as_it_may_be_an_order_number() -> None:
    assert not luhn_valid("4111111111111112")
    assert redact("order 4111111111111112 is late").text == "order 4111111111111112 is late"


@pytest.mark.parametrize(
    "phone",
    [
        "+44 20 7946 0958",
        "+1 (415) 555-2671",
        "+49 30 901820",
        "0044 20 7946 0958",
        "(415) 555-2671",
        "415-555-2671",
        "+86 138 0013 8000",
        "13800138000",
        "+33 1 42 68 53 00",
    ],
)
def test_phone_numbers_in_international_and_national_formats_are_redacted(phone: str) -> None:
    result = redact(f"you can reach me at {phone} after 6pm")
    assert result.text == "you can reach me at [PHONE] after 6pm"


def test_bare_digits_after_a_phone_keyword_are_redacted() -> None:
    assert redact("my phone number is 5551234567").text == "my phone number is [PHONE]"
    assert redact("我的手机 13912345678，请回电").text == "我的手机 [PHONE]，请回电"


def test_order_numbers_dates_and_amounts_are_kept() -> None:
    text = "order 113542617735902 placed on 2024-03-15 for $1,299.00, ticket 555-1234"
    result = redact(text)
    assert "113542617735902" in result.text
    assert "2024-03-15" in result.text
    assert "$1,299.00" in result.text
    assert "555-1234" in result.text  # follows "ticket": a reference number, not a phone


@pytest.mark.parametrize("email", ["john.doe@example.com", "a+tag@mail.co.uk", "zhang_san@163.com"])
def test_email_addresses_are_redacted(email: str) -> None:
    result = redact(f"contact {email}, thanks")
    assert result.text == "contact [EMAIL], thanks"


def test_iban_with_valid_checksum_is_redacted_and_invalid_is_not() -> None:
    assert iban_valid("GB82 WEST 1234 5698 7654 32")
    assert redact("IBAN GB82 WEST 1234 5698 7654 32 please").text == "IBAN [IBAN] please"
    assert redact("refund to DE89370400440532013000").text == "refund to [IBAN]"
    assert not iban_valid("GB00WEST12345698765432")
    assert "GB00WEST12345698765432" in redact("code GB00WEST12345698765432").text


def test_ip_addresses_are_redacted_but_version_numbers_are_not() -> None:
    assert redact("login from 192.168.10.254 failed").text == "login from [IP] failed"
    assert redact("from 2001:db8::8a2e:370:7334 too").text == "from [IP] too"
    assert redact("app version 1.2.3 crashes").text == "app version 1.2.3 crashes"
    assert redact("host 999.1.1.1").text == "host 999.1.1.1"


def test_no_raw_pii_survives_in_a_message_with_everything() -> None:
    pii = [
        "jane@shop.example",
        "+1 415 555 2671",
        "4242 4242 4242 4242",
        "DE89 3704 0044 0532 0130 00",
        "10.0.0.7",
    ]
    text = (
        f"I'm Jane ({pii[0]}), call {pii[1]}. Card {pii[2]} was charged twice, refund to {pii[3]}. "
        f"My IP is {pii[4]}. Order 987654321."
    )
    result = redact(text)
    for value in pii:
        assert value not in result.text
    assert sorted(result.kinds) == ["CARD", "EMAIL", "IBAN", "IP", "PHONE"]
    assert "987654321" in result.text
    digits_left = "".join(ch for ch in result.text if ch.isdigit())
    assert digits_left == "987654321"


def test_chinese_text_with_pii_is_redacted() -> None:
    result = redact("我的邮箱是 wang@example.cn，卡号 6222 0212 3456 7890 128 不是，电话 +86 10 6552 9988")
    assert "wang@example.cn" not in result.text
    assert "+86 10 6552 9988" not in result.text
    assert "[EMAIL]" in result.text and "[PHONE]" in result.text
