"""The header-injection guard: every attack refused, every honest value unchanged."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportflow.errors import HeaderInjection, ValidationError
from supportflow.notify._headers import (
    MAX_HEADER_OCTETS,
    check_address,
    check_display_name,
    check_domain,
    check_header_text,
)

# -- text (Subject) --------------------------------------------------------------------------

TEXT_ATTACKS = {
    "CR": ("hello\rBcc: victim@example.com", r"CR (\r)"),
    "LF": ("hello\nBcc: victim@example.com", r"LF (\n)"),
    "CRLF": ("hello\r\nBcc: victim@example.com", r"CR (\r)"),
    "NUL": ("hello\x00world", r"NUL (\x00)"),
    "vertical tab": ("hello\x0bworld", r"\x0b"),
    "form feed": ("hello\x0cworld", r"\x0c"),
    "escape": ("hello\x1b[31mred", r"\x1b"),
    "DEL": ("hello\x7fworld", r"\x7f"),
    "NEL": ("hello\x85Bcc: x@evil.example", r"\x85"),
    "U+2028": ("hello\u2028Bcc: x@evil.example", r"\u2028"),
    "U+2029": ("hello\u2029Bcc: x@evil.example", r"\u2029"),
    "file separator": ("hello\x1cworld", r"\x1c"),
    "encoded word, Q": ("=?utf-8?q?a=0D=0ABcc:x@evil?=", "encoded word"),
    "encoded word, upper Q": ("Re: =?UTF-8?Q?a=0D=0ABcc:x@evil?=", "encoded word"),
    "encoded word, B": ("=?utf-8?b?YQ0KQmNjOiB4QGV2aWw=?=", "encoded word"),
    "encoded word, B with language": ("=?utf-8*en?B?YQ0KQmNjOiB4QGV2aWw=?=", "encoded word"),
}


@pytest.mark.parametrize(("value", "shown"), TEXT_ATTACKS.values(), ids=TEXT_ATTACKS.keys())
def test_injection_in_text_is_refused(value, shown):
    with pytest.raises(HeaderInjection) as caught:
        check_header_text("subject", value)
    message = str(caught.value)
    assert message.startswith("subject contains")
    assert shown in message
    assert "\r" not in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "value",
    [
        "Ticket #42: printer on fire",
        "Ticket #42 – Drucker defekt, Grüße aus Köln",
        "チケット 42 が更新されました 🎫",
        "tab\tseparated",
        "an equals sign =? and a question ?= mark",
        "",
        "x" * MAX_HEADER_OCTETS,
    ],
    ids=["ascii", "german", "japanese", "tab", "lone =?", "empty", "at the limit"],
)
def test_honest_text_comes_back_unchanged(value):
    assert check_header_text("subject", value) is value


def test_too_long_text_is_refused_with_its_size():
    with pytest.raises(ValidationError, match=r"subject is 999 octets .* limit of 998"):
        check_header_text("subject", "x" * 999)
    # The cap counts UTF-8 octets, not characters: 500 × "ü" is 1000 octets.
    with pytest.raises(ValidationError, match="1000 octets"):
        check_header_text("subject", "ü" * 500)


def test_lone_surrogate_is_refused():
    with pytest.raises(ValidationError, match=r"lone surrogate \\ud800"):
        check_header_text("subject", "broken \ud800 text")


def test_non_text_is_refused():
    with pytest.raises(ValidationError, match="subject must be a str, got bytes"):
        check_header_text("subject", b"bytes")  # type: ignore[arg-type]


def test_long_values_are_quoted_short_in_errors():
    value = "a" * 500 + "\r\nBcc: x@evil.example"
    with pytest.raises(HeaderInjection) as caught:
        check_header_text("subject", value)
    assert "first 60 of 521 characters" in str(caught.value)
    assert len(str(caught.value)) < 400


def _is_allowed(char):
    code = ord(char)
    forbidden = (code < 0x20 and char != "\t") or 0x7F <= code <= 0x9F or char in "\u2028\u2029"
    return not forbidden and not 0xD800 <= code <= 0xDFFF


safe_text = st.text(st.characters().filter(_is_allowed), max_size=200).filter(
    lambda text: "=?" not in text
)


@given(safe_text)
def test_any_text_without_forbidden_characters_passes_unchanged(text):
    assert check_header_text("subject", text) == text


@given(safe_text, st.sampled_from(["\r", "\n"]), st.data())
def test_any_text_with_an_inserted_line_break_is_refused(text, breaker, data):
    position = data.draw(st.integers(0, len(text)), label="position")
    with pytest.raises(HeaderInjection):
        check_header_text("subject", text[:position] + breaker + text[position:])


# -- display names ---------------------------------------------------------------------------

NAME_ATTACKS = {
    "address in angle brackets": 'Ana" <evil@example.net>',
    "quoted address": '"boss@example.com" <evil@example.net>',
    "at sign": "boss@example.com",
    "backslash": "Ana \\",
    "CRLF": "Ana\r\nBcc: x@evil.example",
    "encoded word": "=?utf-8?q?Ana=0D=0ABcc:x@evil?=",
}


@pytest.mark.parametrize("name", NAME_ATTACKS.values(), ids=NAME_ATTACKS.keys())
def test_display_name_tricks_are_refused(name):
    with pytest.raises(HeaderInjection, match="recipient name"):
        check_display_name("recipient name", name)


@pytest.mark.parametrize("name", ["Ana Lima", "Müller, Hans", "Zoë (Support)", "李小龙"])
def test_honest_display_names_come_back_unchanged(name):
    assert check_display_name("recipient name", name) is name


# -- addresses -------------------------------------------------------------------------------

ADDRESS_INJECTIONS = {
    "second address after comma": "ana@example.com,evil@example.net",
    "second address after comma and space": "ana@example.com, evil@example.net",
    "second address after semicolon": "ana@example.com;evil@example.net",
    "display name": '"Ana" <ana@example.com>',
    "angle brackets": "<ana@example.com>",
    "display name without quotes": "Ana <ana@example.com>",
    "space": "ana @example.com",
    "tab": "ana\t@example.com",
    "no-break space": "ana\u00a0@example.com",
    "CRLF header": "ana@example.com\r\nBcc: evil@example.net",
    "LF": "ana@example.com\nevil@example.net",
    "NUL": "ana@example.com\x00",
    "U+2028": "ana@example.com\u2028evil@example.net",
    "comment": "ana(comment)@example.com",
    "quoted local part": '"ana evil"@example.com',
    "domain literal": "ana@[127.0.0.1]",
    "group syntax": "undisclosed:ana@example.com;",
    "encoded word": "=?utf-8?q?a=0D=0A?=@example.com",
}


@pytest.mark.parametrize("address", ADDRESS_INJECTIONS.values(), ids=ADDRESS_INJECTIONS.keys())
def test_address_injection_is_refused(address):
    with pytest.raises(HeaderInjection, match=r"^recipient address contains"):
        check_address("recipient address", address)


ADDRESS_MISTAKES = {
    "missing @": ("ana.example.com", "has no '@'"),
    "two @": ("ana@evil.example@example.com", "has 2 '@'"),
    "empty local part": ("@example.com", "nothing before the '@'"),
    "empty domain": ("ana@", "nothing after the '@'"),
    "leading dot": (".ana@example.com", "invalid local part"),
    "double dot": ("an..a@example.com", "invalid local part"),
    "non-ASCII local part": ("zoë@example.com", "non-ASCII local part"),
    "underscore in domain": ("ana@exa_mple.com", "not a valid domain name"),
    "empty label": ("ana@example..com", "not a valid domain name"),
    "trailing dot": ("ana@example.com.", "not a valid domain name"),
    "hyphen at label start": ("ana@-example.com", "not a valid domain name"),
    "long label": ("ana@" + "a" * 64 + ".com", "not a valid domain name"),
    "long local part": ("a" * 65 + "@example.com", "65 characters"),
    "empty": ("", "has no '@'"),
}


@pytest.mark.parametrize(
    ("address", "problem"), ADDRESS_MISTAKES.values(), ids=ADDRESS_MISTAKES.keys()
)
def test_malformed_address_is_refused(address, problem):
    with pytest.raises(ValidationError, match=problem) as caught:
        check_address("recipient address", address)
    assert not isinstance(caught.value, HeaderInjection)
    assert "recipient address" in str(caught.value)


@pytest.mark.parametrize(
    "address",
    [
        "ana@example.com",
        "Ana.Lima+tickets@mail.Example.COM",
        "o'brien@example.ie",
        "x@localhost",
        "a!#$%&'*+-/=?^_`{|}~z@example.com",
    ],
)
def test_honest_address_comes_back_unchanged(address):
    assert check_address("recipient address", address) is address


def test_idn_domain_is_accepted_in_ascii_form():
    assert check_address("to", "info@bücher.example") == "info@xn--bcher-kva.example"
    assert check_address("to", "info@xn--bcher-kva.example") == "info@xn--bcher-kva.example"
    assert check_domain("domain", "bücher.example") == "xn--bcher-kva.example"


def test_domain_check_names_the_value():
    with pytest.raises(ValidationError, match="domain 'bad domain' is not a valid domain name"):
        check_domain("domain", "bad domain")
