"""Secret redaction: what Redactor hides, and what it leaves alone."""

from __future__ import annotations

import pytest

from pytest_prodval.safety.redaction import MIN_SECRET_LENGTH, REDACTED, Redactor


def test_it_replaces_every_occurrence_of_every_secret() -> None:
    redactor = Redactor(["hunter22", "tok-abcdef"])

    redacted = redactor.redact("pw=hunter22 token=tok-abcdef again=hunter22")

    assert redacted == "pw=*** token=*** again=***"


def test_it_replaces_the_longest_secret_first() -> None:
    redactor = Redactor(["abcd", "abcdefgh"])

    assert redactor.redact("abcdefgh abcd") == f"{REDACTED} {REDACTED}"


def test_it_replaces_the_url_encoded_form_of_a_secret() -> None:
    redactor = Redactor(["p@ss word/1"])

    assert redactor.redact("postgresql://u:p%40ss%20word%2F1@db/x") == "postgresql://u:***@db/x"


def test_it_treats_regex_characters_in_secrets_literally() -> None:
    redactor = Redactor(["a.b*c(d"])

    assert redactor.redact("a.b*c(d axbbbc(d") == "*** axbbbc(d"


@pytest.mark.parametrize("short", ["", "a", "abc"])
def test_it_ignores_secrets_too_short_to_tell_from_ordinary_text(short: str) -> None:
    assert len(short) < MIN_SECRET_LENGTH
    redactor = Redactor([short])

    assert not redactor
    assert redactor.redact("abc and a") == "abc and a"


def test_it_is_truthy_only_when_it_has_secrets() -> None:
    assert not Redactor([])
    assert Redactor(["long-enough"])


def test_it_returns_input_unchanged_when_there_are_no_secrets() -> None:
    redactor = Redactor(())
    payload = {"a": ["b"]}

    assert redactor.redact("nothing to hide") == "nothing to hide"
    assert redactor.redact_obj(payload) is payload


def test_redact_url_hides_an_unknown_password() -> None:
    redactor = Redactor(())

    assert redactor.redact_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.example.com/v1?x=1", "https://api.example.com/v1?x=1"),
        ("https://user@api.example.com/", "https://user@api.example.com/"),
        ("https://user:@api.example.com/", "https://user:@api.example.com/"),
        ("postgres://u:p@ss@db:5432/app", "postgres://u:***@db:5432/app"),
        ("http://127.0.0.1:8080/path", "http://127.0.0.1:8080/path"),
        ("see a://x:one@h and b://y:two@h", "see a://x:***@h and b://y:***@h"),
    ],
)
def test_redact_url_keeps_everything_but_the_password(url: str, expected: str) -> None:
    assert Redactor(()).redact_url(url) == expected


def test_redact_url_also_hides_known_secrets_elsewhere_in_the_url() -> None:
    redactor = Redactor(["api-key-1234"])

    redacted = redactor.redact_url("https://u:pw@host/x?key=api-key-1234")

    assert redacted == "https://u:***@host/x?key=***"


def test_redact_obj_walks_dicts_lists_and_tuples_including_keys() -> None:
    redactor = Redactor(["s3cr3t"])
    payload = {
        "token s3cr3t": ["a s3cr3t", ("s3cr3t", 3)],
        "nested": {"value": "s3cr3t!", "count": 2, "none": None},
    }

    assert redactor.redact_obj(payload) == {
        "token ***": ["a ***", ("***", 3)],
        "nested": {"value": "***!", "count": 2, "none": None},
    }


def test_redact_obj_does_not_modify_its_input() -> None:
    redactor = Redactor(["s3cr3t"])
    payload = {"k": ["s3cr3t"]}

    redactor.redact_obj(payload)

    assert payload == {"k": ["s3cr3t"]}


def test_its_repr_does_not_show_the_secrets() -> None:
    assert "s3cr3t" not in repr(Redactor(["s3cr3t"]))
