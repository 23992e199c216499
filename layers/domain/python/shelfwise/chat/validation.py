"""Limits on a chat message, raised as domain errors that name the offending field."""

from __future__ import annotations

import unicodedata

MAX_MESSAGE_CHARS = 5000


class ChatInputError(ValueError):
    def __init__(self, field: str, message: str, code: str = "invalid_message") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.code = code


def validate_message(text: object, *, field: str = "text") -> str:
    if not isinstance(text, str):
        raise ChatInputError(field, "must be a string")
    if "\x00" in text:
        raise ChatInputError(field, "must not contain NUL characters")
    if any(unicodedata.category(char) == "Cc" and char not in "\t\n\r" for char in text):
        raise ChatInputError(field, "must be plain text without control or binary characters")
    if any(unicodedata.category(char) == "Cs" for char in text):
        raise ChatInputError(field, "must be valid Unicode text (unpaired surrogate found)")
    if not text.strip():
        raise ChatInputError(field, "must not be empty or only whitespace")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ChatInputError(field, f"must be at most {MAX_MESSAGE_CHARS} characters (got {len(text)})")
    return text
