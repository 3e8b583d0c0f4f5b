"""Webhook signatures: ours agree with an independent implementation both ways."""

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from supportflow.errors import NaiveDatetimeError, ValidationError
from supportflow.notify import Secret
from supportflow.notify.signing import (
    SignatureError,
    github_signature,
    sign,
    verify,
    verify_github,
)

KEY = bytes(range(32))
SECRET = "whsec_" + base64.b64encode(KEY).decode()
OTHER = "whsec_" + base64.b64encode(b"another key of 32 bytes, please!").decode()
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECONDS = int(AT.timestamp())
BODY = b'{"data":{"ticket_id":"T-1"},"type":"ticket.created"}'


def headers_for(secret, msg_id="msg_1", seconds=SECONDS, body=BODY):
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(seconds),
        "webhook-signature": sign(secret, msg_id, seconds, body),
    }


def expected_signature(key, msg_id, seconds, body):
    digest = hmac.new(key, f"{msg_id}.{seconds}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


# -- signing ----------------------------------------------------------------------------


def test_signature_is_the_hmac_of_id_timestamp_and_body():
    assert sign(SECRET, "msg_1", SECONDS, BODY) == expected_signature(KEY, "msg_1", SECONDS, BODY)


def test_datetime_and_int_timestamps_sign_alike():
    later = AT + timedelta(milliseconds=999)
    assert sign(SECRET, "m", later, BODY) == sign(SECRET, "m", SECONDS, BODY)


@pytest.mark.parametrize(
    "secret",
    [SECRET, Secret(SECRET), SECRET.rstrip("="), KEY, Secret(KEY)],
    ids=["whsec", "Secret-whsec", "whsec-unpadded", "bytes", "Secret-bytes"],
)
def test_secret_forms_that_mean_the_same_key(secret):
    assert sign(secret, "m", SECONDS, BODY) == expected_signature(KEY, "m", SECONDS, BODY)


def test_plain_strings_are_used_as_utf8_bytes():
    assert sign("s3cret-ä", "m", SECONDS, BODY) == expected_signature(
        "s3cret-ä".encode(), "m", SECONDS, BODY
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(secret="whsec_not*base64"), ValidationError, "not valid base64"),
        (dict(secret=b""), ValidationError, "empty"),
        (dict(secret="whsec_"), ValidationError, "empty"),
        (dict(secret=42), ValidationError, "int"),
        (dict(timestamp=datetime(2026, 3, 2, 9, 0)), NaiveDatetimeError, "naive"),
        (dict(timestamp=-1), ValidationError, "non-negative"),
        (dict(timestamp=True), ValidationError, "non-negative"),
        (dict(body="text"), ValidationError, "must be bytes"),
        (dict(msg_id=""), ValidationError, "non-empty"),
    ],
)
def test_unusable_arguments_are_refused(kwargs, error, match):
    arguments = dict(secret=SECRET, msg_id="m", timestamp=SECONDS, body=BODY) | kwargs
    with pytest.raises(error, match=match):
        sign(**arguments)


def test_a_bad_whsec_secret_is_not_echoed():
    with pytest.raises(ValidationError) as caught:
        sign("whsec_top*secret*value", "m", SECONDS, BODY)
    assert "top*secret" not in str(caught.value)


# -- verifying --------------------------------------------------------------------------


def test_round_trip():
    verify(SECRET, headers_for(SECRET), BODY, now=AT)


def test_header_names_are_case_insensitive():
    shouting = {name.upper(): value for name, value in headers_for(SECRET).items()}
    verify(SECRET, shouting, BODY, now=AT)


def test_tampered_body_is_refused():
    with pytest.raises(SignatureError, match="no webhook-signature matches"):
        verify(SECRET, headers_for(SECRET), BODY.replace(b"T-1", b"T-2"), now=AT)


def test_tampered_id_is_refused():
    headers = headers_for(SECRET) | {"webhook-id": "msg_2"}
    with pytest.raises(SignatureError, match="no webhook-signature matches"):
        verify(SECRET, headers, BODY, now=AT)


def test_wrong_secret_is_refused():
    with pytest.raises(SignatureError, match="another secret"):
        verify(OTHER, headers_for(SECRET), BODY, now=AT)


@pytest.mark.parametrize(
    ("offset", "match"),
    [
        (timedelta(minutes=5, seconds=1), "in the past"),
        (timedelta(hours=-1), "in the future"),
        (timedelta(minutes=-5, seconds=-1), "in the future"),
    ],
)
def test_timestamps_outside_the_tolerance_are_refused(offset, match):
    with pytest.raises(SignatureError, match=match):
        verify(SECRET, headers_for(SECRET), BODY, now=AT + offset)


@pytest.mark.parametrize("offset", [timedelta(minutes=5), timedelta(minutes=-5), timedelta(0)])
def test_timestamps_at_the_edge_of_the_tolerance_pass(offset):
    verify(SECRET, headers_for(SECRET), BODY, now=AT + offset)


def test_tolerance_can_be_widened():
    verify(
        SECRET, headers_for(SECRET), BODY, now=AT + timedelta(hours=1), tolerance=timedelta(hours=2)
    )


def test_rotated_keys_any_current_secret_verifies():
    verify([OTHER, SECRET], headers_for(SECRET), BODY, now=AT)
    verify((Secret(SECRET), Secret(OTHER)), headers_for(OTHER), BODY, now=AT)


def test_several_signatures_in_the_header_any_one_may_match():
    new = sign(OTHER, "msg_1", SECONDS, BODY)
    old = sign(SECRET, "msg_1", SECONDS, BODY)
    headers = headers_for(SECRET) | {"webhook-signature": f"v1a,ignored== {new}  {old}"}
    verify(SECRET, headers, BODY, now=AT)
    verify(OTHER, headers, BODY, now=AT)


def test_signatures_of_other_versions_and_garbage_are_ignored():
    good = sign(SECRET, "msg_1", SECONDS, BODY)
    headers = headers_for(SECRET) | {"webhook-signature": "v2," + good[3:] + " v1,@@@ nonsense"}
    with pytest.raises(SignatureError, match="no webhook-signature matches"):
        verify(SECRET, headers, BODY, now=AT)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_headers_are_named(missing):
    headers = headers_for(SECRET)
    del headers[missing]
    with pytest.raises(SignatureError, match=missing):
        verify(SECRET, headers, BODY, now=AT)


@pytest.mark.parametrize("stamp", ["soon", "1.5", "-10", "1e9", "١٢٣"])
def test_malformed_timestamps_are_refused(stamp):
    headers = headers_for(SECRET) | {"webhook-timestamp": stamp}
    with pytest.raises(SignatureError, match="not Unix seconds"):
        verify(SECRET, headers, BODY, now=AT)


def test_verify_needs_an_aware_now_and_some_secret():
    with pytest.raises(NaiveDatetimeError):
        verify(SECRET, headers_for(SECRET), BODY, now=datetime(2026, 3, 2, 9, 0))
    with pytest.raises(ValidationError, match="no secrets"):
        verify([], headers_for(SECRET), BODY, now=AT)
    with pytest.raises(ValidationError, match="tolerance"):
        verify(SECRET, headers_for(SECRET), BODY, now=AT, tolerance=timedelta(seconds=-1))


def test_signature_errors_are_validation_errors():
    assert issubclass(SignatureError, ValidationError)


# -- against the independent standardwebhooks package -----------------------------------


def test_standardwebhooks_computes_the_same_signature():
    theirs = Webhook(SECRET).sign("msg_1", AT, BODY.decode())
    assert sign(SECRET, "msg_1", AT, BODY) == theirs


def test_standardwebhooks_verifies_our_signature():
    # Its verify() reads the wall clock, so this one test signs with the real time.
    now = datetime.now(UTC)
    headers = headers_for(SECRET, seconds=int(now.timestamp()))
    assert Webhook(SECRET).verify(BODY, headers) == {
        "data": {"ticket_id": "T-1"},
        "type": "ticket.created",
    }
    tampered = headers_for(OTHER, seconds=int(now.timestamp()))
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY, tampered)


def test_we_verify_a_standardwebhooks_signature():
    headers = {
        "webhook-id": "msg_2",
        "webhook-timestamp": str(SECONDS),
        "webhook-signature": Webhook(SECRET).sign("msg_2", AT, BODY.decode()),
    }
    verify(SECRET, headers, BODY, now=AT)
    with pytest.raises(SignatureError):
        verify(OTHER, headers, BODY, now=AT)


@given(
    body=st.text(max_size=300).map(str.encode),
    msg_id=st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
    ),
    seconds=st.integers(min_value=0, max_value=2**33),
    key=st.binary(min_size=1, max_size=64),
)
def test_property_we_and_standardwebhooks_agree(body, msg_id, seconds, key):
    secret = "whsec_" + base64.b64encode(key).decode()
    ours = sign(secret, msg_id, seconds, body)
    at = datetime.fromtimestamp(seconds, UTC)
    assert ours == Webhook(secret).sign(msg_id, at, body.decode())
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(seconds), "webhook-signature": ours}
    verify(secret, headers, body, now=at)
    with pytest.raises(SignatureError):
        verify(secret, headers, body + b"!", now=at)


# -- GitHub style -----------------------------------------------------------------------


def test_github_signature_matches_a_hand_computed_hmac():
    expected = "sha256=" + hmac.new(b"gh-secret", BODY, hashlib.sha256).hexdigest()
    assert github_signature("gh-secret", BODY) == expected
    assert github_signature(Secret("gh-secret"), BODY) == expected
    assert github_signature(b"gh-secret", BODY) == expected


def test_github_style_uses_whsec_strings_as_text():
    expected = "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert github_signature(SECRET, BODY) == expected


def test_verify_github_round_trip_and_refusals():
    header = github_signature("gh-secret", BODY)
    verify_github("gh-secret", header, BODY)
    verify_github("gh-secret", header.upper().replace("SHA256=", "sha256="), BODY)
    with pytest.raises(SignatureError, match="does not match"):
        verify_github("gh-secret", header, BODY + b" ")
    with pytest.raises(SignatureError, match="does not match"):
        verify_github("other", header, BODY)
    with pytest.raises(SignatureError, match="lacks"):
        verify_github("gh-secret", None, BODY)
    with pytest.raises(SignatureError, match="sha256="):
        verify_github("gh-secret", "sha1=" + header[7:], BODY)
    with pytest.raises(SignatureError, match="does not match"):
        verify_github("gh-secret", "sha256=ünïcode", BODY)


@given(body=st.binary(max_size=256), key=st.binary(min_size=1, max_size=40))
def test_property_github_round_trip(body, key):
    header = github_signature(key, body)
    verify_github(key, header, body)
    assert header == "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
