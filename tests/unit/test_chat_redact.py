# ruff: noqa: RUF001 - Chinese test messages use full-width punctuation on purpose
from __future__ import annotations

import pytest
from shelfwise.chat.redact import iban_valid, luhn_valid, redact
from shelfwise.chat.slots import extract_slots


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


# Regressions from the security review: each message below kept PII in the redacted text, the order-number
# slot or the reply.
CARD = "4532015112830366"


@pytest.mark.parametrize(
    "text",
    [
        f"please refund {CARD} now",
        f"order {CARD}",
        f"my order is {CARD}, thanks",
        f"ticket no. {CARD}",
        f"purchase: {CARD}",
        f"order number {CARD}",
        f"my preferred card is {CARD}",
        f"preferred {CARD}",
        f"ref {CARD}",
        f"订单 {CARD} 退款",
        f"order 98765432 {CARD}",
    ],
)
def test_a_card_number_is_redacted_whatever_word_precedes_it(text: str) -> None:
    result = redact(text)
    assert CARD not in result.text and "[CARD]" in result.text
    slots = extract_slots(text).as_dict()
    assert CARD not in str(slots)


@pytest.mark.parametrize(
    "card",
    [
        "4532.0151.1283.0366",
        "4532 - 0151 - 1283 - 0366",
        "4532_0151_1283_0366",
        "4,532,015,112,830,366",
        "４５３２０１５１１２８３０３６６",  # full-width digits
        "4532015112830366".translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),  # Arabic-Indic digits
    ],
)
def test_card_numbers_with_dots_other_separators_or_other_digit_scripts_are_redacted(card: str) -> None:
    assert redact(f"refund {card} EUR please").text == "refund [CARD] EUR please"


@pytest.mark.parametrize(
    "iban",
    [
        "de89370400440532013000",
        "de89 3704 0044 0532 0130 00",
        "De89 3704 0044 0532 0130 00",
        "gb82west12345698765432",
        "GB82-WEST-1234-5698-7654-32",
    ],
)
def test_ibans_in_any_letter_case_and_grouping_are_redacted(iban: str) -> None:
    assert redact(f"please refund to {iban}. thanks").text == "please refund to [IBAN]. thanks"


def test_an_order_number_stays_next_to_redacted_pii_and_fills_the_slot() -> None:
    text = f"order 98765432: refund to card {CARD}, call +49 30 901820"
    assert redact(text).text == "order 98765432: refund to card [CARD], call [PHONE]"
    assert extract_slots(text).order_number == "98765432"


def test_the_order_number_slot_never_takes_a_card_iban_or_phone_after_an_order_keyword() -> None:
    for text in (
        f"order {CARD}",
        "order DE89370400440532013000",
        "order +49 30 901820",
        "purchase (415) 555-2671",
        "订单号 +86 138 0013 8000",
    ):
        assert extract_slots(text).order_number is None, text


def test_a_plus_sign_does_not_turn_a_card_number_into_a_phone_number() -> None:
    assert redact(f"card +{CARD} ok").text == "card +[CARD] ok"
    assert redact("call +86 138 0013 8002 now").text == "call [PHONE] now"  # 13 digits, passes Luhn


def test_phone_numbers_glued_to_letters_or_without_keyword_are_redacted() -> None:
    assert redact("call+4915112345678now").text == "call[PHONE]now"
    assert redact("please refund 4155552671 now").text == "please refund [PHONE] now"
    # The same bare digits right after an order keyword read as an order number, misspelt or not.
    assert redact("order 4155552671").text == "order 4155552671"
    assert redact("cancel ordedr 3707955617").text == "cancel ordedr 3707955617"
    assert redact("my preferred 4155552671").text == "my preferred [PHONE]"


def test_e_mail_addresses_with_rfc_5322_local_parts_and_punycode_domains_are_redacted() -> None:
    assert redact("mail a!b#c{d}~e@sub-1.example.xn--p1ai.").text == "mail [EMAIL]."
    assert redact("write to O'Brien+orders@Example.COM today").text == "write to [EMAIL] today"


def test_the_e_mail_slot_does_not_give_a_short_address_away() -> None:
    assert extract_slots("write to john.doe@example.com").email == "j***@example.com"
    assert extract_slots("write to j@janeroe.example").email == "***@janeroe.example"
    assert extract_slots("write to *@a.at").email == "***"  # "***@a.at" would contain the address


def test_a_phone_number_right_after_another_is_redacted_too() -> None:
    # The matcher used to skip past the second number once it had taken the first out of a longer run.
    assert redact("+1 201-555-0000 0412 340 000").text == "+1 [PHONE] [PHONE]"
