r"""Checks for text that goes into e-mail headers.

Every value that ends up in a header (subject, display names, addresses) passes
through one of these functions before an :class:`email.message.EmailMessage`
is built. They do not rely on the :mod:`email` package's own defences, which
have changed between Python patch releases: the rules here are the same on
every interpreter supportflow supports.

>>> check_header_text("subject", "Ticket #42 – Drucker defekt")
'Ticket #42 – Drucker defekt'
>>> check_header_text("subject", "hello\r\nBcc: victim@example.com")
Traceback (most recent call last):
...
supportflow.errors.HeaderInjection: subject contains CR (\r) at position 5 ...
>>> check_address("recipient address", "ana@example.com")
'ana@example.com'
"""

from __future__ import annotations

import re

from supportflow.errors import HeaderInjection, ValidationError

__all__ = [
    "MAX_HEADER_OCTETS",
    "check_address",
    "check_display_name",
    "check_domain",
    "check_header_text",
]

#: The longest header value accepted, in UTF-8 octets: RFC 5322's line limit.
MAX_HEADER_OCTETS = 998

# RFC 5321 limits: 64 octets of local part, 254 octets of path (minus "<>").
_MAX_LOCAL_OCTETS = 64
_MAX_ADDRESS_OCTETS = 254
_MAX_DOMAIN_OCTETS = 253
_MAX_LABEL_OCTETS = 63

# How much of a refused value an error message quotes.
_EXCERPT = 60

_CHAR_NAMES = {
    "\r": "CR",
    "\n": "LF",
    "\x00": "NUL",
    "\x0b": "vertical tab",
    "\x0c": "form feed",
    "\x7f": "DEL",
    "\x85": "NEL (next line)",
    "\u2028": "LINE SEPARATOR",
    "\u2029": "PARAGRAPH SEPARATOR",
}

# Line breaks and control characters: C0 except TAB, DEL, C1 (which holds
# U+0085 NEL), and the two Unicode separators. ``str.splitlines`` splits on
# several of these, so any of them can end a header line somewhere.
_FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")

# An RFC 2047 encoded word, matched as loosely as the email package's parsers
# match it: "=?", a charset, "?", B or Q, "?", anything, "?=".
_ENCODED_WORD = re.compile(r"=\?[^?]*\?[bq]\?.*?\?=", re.IGNORECASE | re.DOTALL)

# Characters that turn a plain address into something else: a display name,
# a group, a comment, a quoted local part, a domain literal or a second address.
_ADDRESS_SPECIALS = frozenset('<>()[]:;,"\\')

# atext of RFC 5322 (dot-atom without the dots).
_LOCAL_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+")
_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")

# Characters a display name may not hold: they would make it look like (or
# parse as) an address whatever quoting the email package applies.
_NAME_SPECIALS = frozenset('<>@"\\')


def _escape(char: str) -> str:
    """``char`` as a Python escape (``\\r``, ``\\x00``, ``\\u2028``)."""
    return repr(char)[1:-1]


def _describe(char: str) -> str:
    name = _CHAR_NAMES.get(char, "control character")
    return f"{name} ({_escape(char)})"


def _excerpt(value: str) -> str:
    """A short, escaped quotation of ``value`` for an error message."""
    if len(value) <= _EXCERPT:
        return repr(value)
    return repr(value[:_EXCERPT]) + f" (first {_EXCERPT} of {len(value)} characters)"


def _require_str(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a str, got {type(value).__name__}; pass text")
    return value


def _refuse_controls(field: str, value: str) -> None:
    found = _FORBIDDEN.search(value)
    if found is not None:
        raise HeaderInjection(
            f"{field} contains {_describe(found.group())} at position {found.start()} "
            f"in {_excerpt(value)}; line breaks and control characters could start a new "
            f"header: remove them (use a single line; TAB and spaces are fine)"
        )


def _refuse_encoded_words(field: str, value: str) -> None:
    found = _ENCODED_WORD.search(value)
    if found is not None:
        raise HeaderInjection(
            f"{field} contains the RFC 2047 encoded word {_excerpt(found.group())}; pass "
            f"plain (Unicode) text instead: supportflow encodes non-ASCII text itself, and "
            f"pre-encoded words could hide line breaks"
        )


def _refuse_too_long(field: str, value: str, limit: int) -> None:
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        char = value[exc.start]
        raise ValidationError(
            f"{field} contains the lone surrogate {_escape(char)} at position {exc.start}, "
            f"which cannot be encoded; pass valid Unicode text"
        ) from None
    if size > limit:
        raise ValidationError(
            f"{field} is {size} octets long in UTF-8, more than the limit of {limit}; shorten it"
        )


def check_header_text(field: str, value: str) -> str:
    """Check free text for a header such as ``Subject`` and return it unchanged.

    Refused:

    * CR, LF, NUL and every other C0 control character except TAB, DEL, the C1
      controls (including U+0085 NEL) and U+2028/U+2029: each could end the
      header line in some parser and start a header of the attacker's choosing.
    * Any RFC 2047 encoded word (``=?charset?B?...?=`` or ``=?charset?Q?...?=``,
      in any case). The email package decodes encoded words in the values it
      is given, so ``=?utf-8?q?a=0D=0ABcc:x@evil?=`` would become a header
      holding CR LF. Rather than decode and inspect them (and depend on how a
      given Python release decodes), every encoded word is refused: callers
      never need one, because non-ASCII text is encoded when the message is
      written. Text that merely contains ``=?`` is fine.
    * More than :data:`MAX_HEADER_OCTETS` (998) octets of UTF-8, RFC 5322's
      limit for one line, and lone surrogates, which cannot be encoded.

    Args:
        field: what the value is, for error messages (``"subject"``).
        value: the text to check.

    Returns:
        ``value`` itself.

    Raises:
        HeaderInjection: ``value`` holds a line break, a control character or
            an encoded word.
        ValidationError: ``value`` is not a str, is too long or holds a lone
            surrogate.
    """
    _require_str(field, value)
    _refuse_controls(field, value)
    _refuse_encoded_words(field, value)
    _refuse_too_long(field, value, MAX_HEADER_OCTETS)
    return value


def check_display_name(field: str, name: str) -> str:
    """Check a display name (the ``Ana Lima`` of ``Ana Lima <ana@example.com>``).

    On top of :func:`check_header_text`, a display name may not contain
    ``<``, ``>``, ``@``, ``"`` or ``\\``: with them a name can pass for an
    address (``"boss@example.com" <evil@example.net>``) or escape its quotes.
    Commas, parentheses and non-ASCII letters are fine; the name is quoted or
    encoded when the message is written.

    Args:
        field: what the value is, for error messages (``"recipient name"``).
        name: the display name.

    Returns:
        ``name`` itself.

    Raises:
        HeaderInjection: ``name`` holds a line break, a control character, an
            encoded word or one of the characters above.
        ValidationError: ``name`` is not a str or is too long.
    """
    check_header_text(field, name)
    for position, char in enumerate(name):
        if char in _NAME_SPECIALS:
            raise HeaderInjection(
                f"{field} {_excerpt(name)} contains {char!r} at position {position}; a "
                f'display name may not hold < > @ " or \\ because it could pass for an '
                f"address: pass the name alone (e.g. 'Ana Lima') and the address separately"
            )
    return name


def check_address(field: str, address: str) -> str:
    """Check one plain e-mail address (``local@domain``) and return it.

    The address must be a bare addr-spec: no display name, no angle brackets,
    no comments, no quoted local part, no domain literal, no second address
    after a comma or semicolon, no whitespace and no control characters. The
    local part is ASCII dot-atom text of at most 64 octets. The domain is DNS
    labels of letters, digits and hyphens separated by dots; an
    internationalised domain (``bücher.example``) is converted to its ASCII
    form with the ``idna`` codec, since the message is sent without SMTPUTF8.

    Args:
        field: what the value is, for error messages (``"recipient address"``).
        address: the address.

    Returns:
        ``address`` unchanged when its domain is ASCII, otherwise the address
        with the domain in ASCII (``user@xn--bcher-kva.example``).

    Raises:
        HeaderInjection: the address holds a line break, a control character,
            whitespace, an encoded word, or a character that could add a
            display name or a second recipient (``<>()[]:;,"\\``).
        ValidationError: it is not a str, does not have exactly one ``@``,
            has an empty or invalid local part or domain, or is too long.

    >>> check_address("to", "desk@bücher.example")
    'desk@xn--bcher-kva.example'
    >>> check_address("to", "a@example.com, b@example.com")
    Traceback (most recent call last):
    ...
    supportflow.errors.HeaderInjection: to contains ',' at position 13 ...
    """
    _require_str(field, address)
    _refuse_controls(field, address)
    _refuse_encoded_words(field, address)
    for position, char in enumerate(address):
        if char.isspace():
            raise HeaderInjection(
                f"{field} contains {char!r} at position {position} in {_excerpt(address)}; "
                f"an address has no whitespace: pass exactly one address like "
                f"'ana@example.com'"
            )
        if char in _ADDRESS_SPECIALS:
            raise HeaderInjection(
                f"{field} contains {char!r} at position {position} in {_excerpt(address)}; "
                f"pass exactly one plain address like 'ana@example.com', without a display "
                f"name, angle brackets, quotes or a second address (give the name separately)"
            )
    _refuse_too_long(field, address, _MAX_ADDRESS_OCTETS)
    count = address.count("@")
    if count != 1:
        problem = "has no '@'" if count == 0 else f"has {count} '@' characters"
        raise ValidationError(
            f"{field} {_excerpt(address)} {problem}; pass exactly one address of the form "
            f"local@domain, e.g. 'ana@example.com'"
        )
    local, domain = address.split("@")
    _check_local_part(field, address, local)
    ascii_domain = _check_domain(field, address, domain)
    return address if ascii_domain == domain else f"{local}@{ascii_domain}"


def _check_local_part(field: str, address: str, local: str) -> None:
    if not local:
        raise ValidationError(
            f"{field} {_excerpt(address)} has nothing before the '@'; pass a full address "
            f"like 'ana@example.com'"
        )
    if not local.isascii():
        raise ValidationError(
            f"{field} {_excerpt(address)} has a non-ASCII local part; supportflow sends "
            f"without SMTPUTF8, so use an ASCII address for this recipient"
        )
    if len(local) > _MAX_LOCAL_OCTETS:
        raise ValidationError(
            f"{field} {_excerpt(address)} has a local part of {len(local)} characters, more "
            f"than the limit of {_MAX_LOCAL_OCTETS}; check the address"
        )
    for part in local.split("."):
        if not _LOCAL_ATEXT.fullmatch(part):
            raise ValidationError(
                f"{field} {_excerpt(address)} has an invalid local part {local!r}: it must be "
                f"letters, digits and !#$%&'*+-/=?^_`{{|}}~ separated by single dots, not "
                f"starting or ending with a dot; check the address"
            )


def check_domain(field: str, domain: str) -> str:
    """Check a domain name and return its ASCII form.

    The domain must be DNS labels of letters, digits and hyphens (1 to 63
    characters, no hyphen at either end) separated by single dots, at most 253
    characters in all. An internationalised domain is converted with the
    ``idna`` codec first.

    Args:
        field: what the value is, for error messages (``"domain"``).
        domain: the domain name.

    Returns:
        ``domain`` unchanged when it is ASCII, otherwise its ASCII form.

    Raises:
        ValidationError: the domain is empty, not a str, or not a valid name.

    >>> check_domain("domain", "Bücher.example")
    'xn--bcher-kva.example'
    """
    _require_str(field, domain)
    return _ascii_domain(f"{field} {_excerpt(domain)}", domain)


def _check_domain(field: str, address: str, domain: str) -> str:
    if not domain:
        raise ValidationError(
            f"{field} {_excerpt(address)} has nothing after the '@'; pass a full address "
            f"like 'ana@example.com'"
        )
    return _ascii_domain(f"the domain {domain!r} of {field} {_excerpt(address)}", domain)


def _ascii_domain(subject: str, domain: str) -> str:
    """Return the ASCII form of ``domain``; ``subject`` says what it is, for errors."""
    if not domain:
        raise ValidationError(f"{subject} is empty; pass a domain name like 'example.com'")
    ascii_domain = domain
    if not domain.isascii():
        try:
            ascii_domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValidationError(
                f"{subject} is not a valid internationalised domain name; check the spelling"
            ) from None
    labels = ascii_domain.split(".")
    if len(ascii_domain) > _MAX_DOMAIN_OCTETS or not all(map(_valid_label, labels)):
        raise ValidationError(
            f"{subject} is not a valid domain name: it must be labels of letters, digits "
            f"and hyphens (1 to 63 characters, no hyphen at either end) separated by "
            f"single dots; check the spelling"
        )
    return ascii_domain


def _valid_label(label: str) -> bool:
    return len(label) <= _MAX_LABEL_OCTETS and _DNS_LABEL.fullmatch(label) is not None
