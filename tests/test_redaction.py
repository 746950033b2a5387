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


# A secret with every character that is printed escaped: a backslash, a tab, both quote kinds,
# a newline, XML/URL specials and a non-ASCII letter.
AWKWARD = "a\\b\t\"c'd\n<é&>%+ /"


def _escaped(secret: str) -> dict[str, str]:
    """How ``secret`` is printed by repr(), pytest, JSON, XML/HTML and URL quoting (the text
    between the quotes; "of repr": a repr() inside a string printed again)."""
    import html
    import json
    from urllib.parse import quote, quote_plus
    from xml.sax.saxutils import escape

    only_single = secret.replace('"', "")  # repr() double-quotes a string with ' but no "
    return {
        "repr": repr(secret)[1:-1],
        "repr, double-quoted": repr(only_single)[1:-1],
        "repr of repr": repr(repr(secret)[1:-1])[1:-1],
        "pytest id": secret.encode("unicode_escape").decode("ascii"),
        "json": json.dumps(secret)[1:-1],
        "json, not ascii": json.dumps(secret, ensure_ascii=False)[1:-1],
        "json of repr": json.dumps(repr(secret)[1:-1])[1:-1],
        "xml": escape(secret, {'"': "&quot;", "'": "&apos;"}),
        "xml text": escape(secret),
        "xml of repr": escape(repr(secret)[1:-1], {'"': "&quot;"}),
        "html": html.escape(secret),
        "url": quote(secret, safe=""),
        "url path": quote(secret),
        "url plus": quote_plus(secret),
    }


@pytest.mark.parametrize("form", list(_escaped(AWKWARD)))
def test_it_replaces_every_escaped_form_of_a_secret(form: str) -> None:
    # Before: only the secret as written and its %-encoding were matched, so repr() in
    # --showlocals or an assertion, JSON and JUnit's XML printed the secret escaped.
    secret = _escaped(AWKWARD)[form]
    if form == "repr, double-quoted":
        redactor = Redactor([AWKWARD.replace('"', "")])
    else:
        redactor = Redactor([AWKWARD])

    assert redactor.redact(f"<<{secret}>>") == f"<<{REDACTED}>>"


def test_it_replaces_the_escaped_forms_inside_a_repr_of_a_larger_value() -> None:
    secret = "a\\b\t\"c'd"
    redactor = Redactor([secret])
    for shown in (repr({"k": secret}), repr([secret, "x'y"]), str({"k": secret})):
        assert redactor.redact(shown).count(REDACTED) == 1, shown
        assert "c\\'d" not in redactor.redact(shown)


def test_escaped_forms_keep_the_minimum_length_rule() -> None:
    assert not Redactor(['a"b', "\t\\\n"])  # escaped, they are longer, but no secrets at all
    assert Redactor(['a"bc']).redact('x "a\\"bc" y') == f'x "{REDACTED}" y'
