"""Secrets never reach an error's stored or logged text (app.core.redact)."""

from __future__ import annotations

import pytest

from app.core.redact import redact

CASES = [
    ("could not be reached: https://prod.logic.azure.com/workflows/x/invoke"
     "?api-version=2016-06-01&sp=%2Frun&sv=1.0&sig=S3cret", "S3cret"),
    ("Max retries exceeded with url: /workflows/x/invoke?api-version=1&sig=S3cret (Caused by)",
     "S3cret"),
    ("GET https://alice:hunter2@example.org/path failed", "hunter2"),
    ("refused the grant: code=0.AbC123 state=1", "0.AbC123"),
    ("body was token=abc.def.ghi&x=1", "abc.def.ghi"),
    ("Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi", "eyJ0eXAiOiJKV1QiLCJhbGciOi"),
    ('{"client_secret": "very-secret-value", "id": 1}', "very-secret-value"),
]


@pytest.mark.parametrize(("text", "secret"), CASES)
def test_the_secret_is_gone_and_the_words_around_it_stay(text, secret):
    cleaned = redact(text)
    assert secret not in cleaned
    assert "[redacted]" in cleaned
    assert cleaned.split()[0] == text.split()[0]  # what the error said is still there


def test_every_named_secret_in_one_text_is_hidden():
    cleaned = redact("password=hunter2; key=k-123 secret=s-456")
    assert cleaned == "password=[redacted]; key=[redacted] secret=[redacted]"


def test_plain_error_text_is_unchanged_and_redacting_twice_changes_nothing():
    plain = "Microsoft 365 answered 403 [Forbidden]: Missing role. Why? Ask an admin."
    assert redact(plain) == plain
    once = redact(CASES[0][0])
    assert redact(once) == once
    assert redact(None) is None
