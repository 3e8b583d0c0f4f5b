"""Sign webhook requests, and verify signed ones, in two common styles.

**Standard Webhooks** (https://www.standardwebhooks.com): three headers,
``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``,
which holds ``v1,<base64 HMAC-SHA256>`` of ``"{id}.{timestamp}.{body}"``.
A receiver checks the signature and that the timestamp is recent, which stops
both forgery and replay. Use :func:`sign` and :func:`verify`.

**GitHub style**: one header, ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256
of the body>``, with no timestamp. Use :func:`github_signature` and
:func:`verify_github`.

Secrets may be a :class:`~supportflow.notify.Secret`, a ``str`` or ``bytes``:

* for Standard Webhooks, a string of the form ``whsec_<base64>`` is
  base64-decoded and the decoded bytes are the key, as that specification
  says; any other string is used as its UTF-8 bytes, and ``bytes`` as they are;
* for GitHub style, a string is always used as its UTF-8 bytes (no
  ``whsec_`` decoding), because that is how GitHub's receivers read the secret.

Example:
    >>> from datetime import datetime, UTC
    >>> secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    >>> body = b'{"type":"ticket.created"}'
    >>> signature = sign(secret, "msg_1", 1767225600, body)
    >>> signature
    'v1,...'
    >>> headers = {
    ...     "webhook-id": "msg_1",
    ...     "webhook-timestamp": "1767225600",
    ...     "webhook-signature": signature,
    ... }
    >>> verify(secret, headers, body, now=datetime(2026, 1, 1, 0, 1, tzinfo=UTC))
    >>> verify(secret, headers, b"{}", now=datetime(2026, 1, 1, 0, 1, tzinfo=UTC))
    Traceback (most recent call last):
    ...
    supportflow.notify.signing.SignatureError: no webhook-signature matches ...
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from supportflow._time import ensure_aware
from supportflow.errors import ValidationError
from supportflow.notify._secret import Secret

__all__ = [
    "DEFAULT_TOLERANCE",
    "SignatureError",
    "github_signature",
    "sign",
    "verify",
    "verify_github",
]

DEFAULT_TOLERANCE = timedelta(minutes=5)
"""How far a ``webhook-timestamp`` may lie from ``now``, either way, by default."""

_PREFIX = "whsec_"

SecretLike = Secret | str | bytes


class SignatureError(ValidationError):
    """A signed webhook request did not pass verification.

    Raised when a signature header is missing or malformed, when the
    timestamp is too far from ``now`` (a replay, or a badly set clock), or
    when no signature matches any of the secrets. Answer such a request with
    ``401`` and do not act on it.
    """


def _standard_key(secret: SecretLike) -> bytes:
    """The HMAC key for Standard Webhooks: ``whsec_`` strings are base64-decoded."""
    value = secret.reveal() if isinstance(secret, Secret) else secret
    if isinstance(value, bytes):
        key = value
    elif isinstance(value, str):
        if value.startswith(_PREFIX):
            encoded = value[len(_PREFIX) :]
            try:
                key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValidationError(
                    "the signing secret starts with 'whsec_' but the rest is not valid "
                    "base64; copy the whole secret as the receiver issued it"
                ) from exc
        else:
            key = value.encode("utf-8")
    else:
        raise ValidationError(
            f"a signing secret must be a Secret, str or bytes, got {type(value).__name__}; "
            "pass the key itself"
        )
    if not key:
        raise ValidationError("the signing secret is empty; pass the key the receiver issued")
    return key


def _github_key(secret: SecretLike) -> bytes:
    """The HMAC key for GitHub style: a string's UTF-8 bytes, bytes as they are."""
    value = secret.reveal() if isinstance(secret, Secret) else secret
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes):
        raise ValidationError(
            f"a signing secret must be a Secret, str or bytes, got {type(value).__name__}; "
            "pass the key itself"
        )
    if not value:
        raise ValidationError("the signing secret is empty; pass the key the receiver issued")
    return value


def _unix_seconds(timestamp: datetime | int) -> int:
    if isinstance(timestamp, datetime):
        return math.floor(ensure_aware(timestamp, "timestamp").timestamp())
    if isinstance(timestamp, int) and not isinstance(timestamp, bool) and timestamp >= 0:
        return timestamp
    raise ValidationError(
        f"timestamp must be an aware datetime or non-negative Unix seconds, got {timestamp!r}; "
        "pass clock.now() or an int"
    )


def _digest(key: bytes, msg_id: str, seconds: int, body: bytes) -> bytes:
    if not isinstance(body, bytes):
        raise ValidationError(
            f"the body must be bytes, got {type(body).__name__}; sign exactly the bytes sent, "
            "e.g. json_text.encode('utf-8')"
        )
    if not isinstance(msg_id, str) or not msg_id:
        raise ValidationError(
            f"the message id must be a non-empty str, got {msg_id!r}; pass the webhook-id"
        )
    signed = f"{msg_id}.{seconds}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(secret: SecretLike, msg_id: str, timestamp: datetime | int, body: bytes) -> str:
    """Compute the Standard Webhooks signature of a message.

    Args:
        secret: the signing secret (``whsec_<base64>`` strings are decoded;
            other strings are used as UTF-8 bytes).
        msg_id: the ``webhook-id`` header value.
        timestamp: the ``webhook-timestamp``: an aware datetime (whole seconds
            are used) or Unix seconds.
        body: the exact request body.

    Returns:
        The ``webhook-signature`` header value, ``"v1,<base64>"``.

    Raises:
        ValidationError: the secret, id, timestamp or body is not usable.
    """
    digest = _digest(_standard_key(secret), msg_id, _unix_seconds(timestamp), body)
    return "v1," + base64.b64encode(digest).decode("ascii")


def _secrets(secret_or_secrets: SecretLike | Iterable[SecretLike]) -> list[SecretLike]:
    if isinstance(secret_or_secrets, Secret | str | bytes):
        return [secret_or_secrets]
    secrets = list(secret_or_secrets)
    if not secrets:
        raise ValidationError(
            "no secrets given to verify with; pass the current secret (and, while rotating "
            "keys, the previous one)"
        )
    return secrets


def verify(
    secret_or_secrets: SecretLike | Iterable[SecretLike],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> None:
    """Check a Standard Webhooks request; return quietly if it is genuine.

    Header names are matched without regard to case. The
    ``webhook-signature`` header may hold several space-separated signatures
    (the sender signs with old and new keys while rotating them); signatures
    of versions other than ``v1`` are ignored. Comparisons take constant time.

    Args:
        secret_or_secrets: the secret, or several (key rotation): the request
            passes if any secret matches any signature.
        headers: the request headers.
        body: the exact request body, as received.
        now: the current instant (aware), to judge the timestamp against.
        tolerance: how far the timestamp may lie before or after ``now``.

    Raises:
        SignatureError: a header is missing or malformed, the timestamp is
            outside ``now ± tolerance``, or no signature matches.
        ValidationError: the secrets, ``now`` or ``tolerance`` are unusable.
    """
    keys = [_standard_key(secret) for secret in _secrets(secret_or_secrets)]
    now = ensure_aware(now, "now")
    if not isinstance(tolerance, timedelta) or tolerance < timedelta(0):
        raise ValidationError(
            f"tolerance must be a non-negative timedelta, got {tolerance!r}; "
            "the default is 5 minutes"
        )
    lowered = {name.lower(): value for name, value in headers.items()}
    missing = [
        name
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
        if not lowered.get(name)
    ]
    if missing:
        raise SignatureError(
            f"the request lacks the header(s) {', '.join(missing)}; it was not signed as a "
            "Standard Webhooks request, so it cannot be trusted"
        )
    msg_id = lowered["webhook-id"]
    stamp = lowered["webhook-timestamp"].strip()
    if not stamp.isascii() or not stamp.isdigit():
        raise SignatureError(
            f"webhook-timestamp {stamp[:40]!r} is not Unix seconds; the sender must send an "
            "integer such as 1767225600"
        )
    seconds = int(stamp)
    drift = seconds - now.timestamp()
    if abs(drift) > tolerance.total_seconds():
        when = "in the past" if drift < 0 else "in the future"
        raise SignatureError(
            f"webhook-timestamp {seconds} lies {abs(drift):.0f} s {when}, more than the "
            f"tolerance of {tolerance.total_seconds():.0f} s; the request is a replay or "
            "a clock is wrong (check both clocks)"
        )
    expected = [_digest(key, msg_id, seconds, body) for key in keys]
    for entry in lowered["webhook-signature"].split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if any(hmac.compare_digest(given, digest) for digest in expected):
            return
    raise SignatureError(
        f"no webhook-signature matches the body for webhook-id {msg_id[:80]!r}; the body was "
        "changed, or the sender uses another secret (pass every current secret while "
        "rotating keys)"
    )


def github_signature(secret: SecretLike, body: bytes) -> str:
    """Compute a GitHub-style ``X-Hub-Signature-256`` header value.

    Args:
        secret: the shared secret; a string is used as its UTF-8 bytes.
        body: the exact request body.

    Returns:
        ``"sha256=<hex HMAC-SHA256 of body>"``.

    Raises:
        ValidationError: the secret or body is not usable.

    >>> github_signature("It's a Secret to Everybody", b"Hello, World!")
    'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'
    """
    if not isinstance(body, bytes):
        raise ValidationError(
            f"the body must be bytes, got {type(body).__name__}; sign exactly the bytes sent"
        )
    return "sha256=" + hmac.new(_github_key(secret), body, hashlib.sha256).hexdigest()


def verify_github(secret: SecretLike, header_value: str | None, body: bytes) -> None:
    """Check a GitHub-style signature; return quietly if it is genuine.

    GitHub-style signatures carry no timestamp, so they cannot detect a
    replayed request; prefer :func:`verify` where the sender supports it.

    Args:
        secret: the shared secret; a string is used as its UTF-8 bytes.
        header_value: the ``X-Hub-Signature-256`` header value (``None`` if
            the request had none).
        body: the exact request body, as received.

    Raises:
        SignatureError: the header is missing, malformed or does not match.
        ValidationError: the secret or body is not usable.
    """
    expected = github_signature(secret, body)
    if not header_value:
        raise SignatureError(
            "the request lacks an X-Hub-Signature-256 header; it was not signed, so it "
            "cannot be trusted"
        )
    given = header_value.strip()
    if not given.startswith("sha256="):
        raise SignatureError(
            f"X-Hub-Signature-256 {given[:20]!r}... does not start with 'sha256='; "
            "the sender must sign with HMAC-SHA256"
        )
    if not hmac.compare_digest(given.lower().encode("ascii", "replace"), expected.encode()):
        raise SignatureError(
            "X-Hub-Signature-256 does not match the body; the body was changed, or the "
            "sender uses another secret"
        )
