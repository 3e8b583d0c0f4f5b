"""SSRF protection: every disguise of an internal address is seen through."""

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportflow.errors import ConfigError, UnsafeDestination
from supportflow.notify._netguard import (
    Destination,
    NetGuard,
    check_url,
    classify,
    resolve_destination,
)


def public_resolver(host, port):
    """A stand-in DNS that answers one public address for every name."""
    return ["93.184.216.34"]


def fixed_resolver(*answers):
    def resolve(host, port):
        return list(answers)

    return resolve


# -- classify: one case per forbidden range ---------------------------------------------

FORBIDDEN_ADDRESSES = {
    "loopback": ("127.0.0.1", "loopback"),
    "loopback-high": ("127.255.255.254", "loopback"),
    "private-10": ("10.0.0.1", "private (10.0.0.0/8)"),
    "private-172": ("172.16.0.1", "private (172.16.0.0/12)"),
    "private-172-top": ("172.31.255.255", "private (172.16.0.0/12)"),
    "private-192": ("192.168.1.1", "private (192.168.0.0/16)"),
    "link-local": ("169.254.1.1", "link-local"),
    "cloud-metadata": ("169.254.169.254", "metadata"),
    "cgnat": ("100.64.0.1", "carrier-grade NAT"),
    "this-network": ("0.1.2.3", "this network"),
    "unspecified-v4": ("0.0.0.0", "unspecified"),
    "broadcast": ("255.255.255.255", "broadcast"),
    "multicast-v4": ("224.0.0.251", "multicast"),
    "reserved-240": ("240.0.0.1", "reserved"),
    "documentation-1": ("192.0.2.1", "documentation"),
    "documentation-2": ("198.51.100.1", "documentation"),
    "documentation-3": ("203.0.113.1", "documentation"),
    "benchmarking": ("198.18.0.1", "benchmarking"),
    "ietf-protocol": ("192.0.0.8", "IETF"),
    "loopback-v6": ("::1", "loopback"),
    "unspecified-v6": ("::", "unspecified"),
    "link-local-v6": ("fe80::1", "link-local"),
    "unique-local": ("fc00::1", "unique-local"),
    "unique-local-fd": ("fd00:ec2::254", "unique-local"),
    "site-local": ("fec0::1", "site-local"),
    "multicast-v6": ("ff02::1", "multicast"),
    "documentation-v6": ("2001:db8::1", "documentation"),
    "discard-only": ("100::1", "discard"),
    "not-global-unicast": ("4000::1", "global unicast"),
    # Disguises: IPv6 forms carrying a forbidden IPv4 address.
    "ipv4-mapped": ("::ffff:127.0.0.1", "IPv4-mapped"),
    "ipv4-mapped-metadata": ("::ffff:169.254.169.254", "metadata"),
    "ipv4-compatible": ("::127.0.0.1", "IPv4-compatible"),
    "ipv4-compatible-public": ("::8.8.8.8", "IPv4-compatible"),
    "nat64": ("64:ff9b::10.0.0.1", "NAT64"),
    "nat64-local-use": ("64:ff9b:1::808:808", "NAT64"),
    "6to4": ("2002:7f00:1::1", "6to4"),
    "6to4-private": ("2002:c0a8:101::1", "6to4"),
    # Teredo stores the client's IPv4 inverted: ~127.0.0.1 is 80ff:fffe.
    "teredo-client": ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo"),
    "teredo-server": ("2001:0:a00:1:8000:63bf:a4ff:fffe", "Teredo address with server"),
}


@pytest.mark.parametrize(
    ("text", "reason"), list(FORBIDDEN_ADDRESSES.values()), ids=list(FORBIDDEN_ADDRESSES)
)
def test_forbidden_addresses_are_classified(text, reason):
    found = classify(ipaddress.ip_address(text))
    assert found is not None
    assert reason in found


PUBLIC_ADDRESSES = [
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:93.184.216.34",
    "64:ff9b::808:808",  # NAT64 of a public IPv4 address
    "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
    # Teredo with public server 65.54.227.120 and public client 93.184.216.34 (inverted).
    "2001:0:4136:e378:8000:63bf:a247:27dd",
]


@pytest.mark.parametrize("text", PUBLIC_ADDRESSES)
def test_public_addresses_are_not_forbidden(text):
    assert classify(ipaddress.ip_address(text)) is None


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_ipv4_mapped_form_is_judged_like_the_ipv4_address(value):
    v4 = ipaddress.IPv4Address(value)
    mapped = ipaddress.IPv6Address(f"::ffff:{v4}")
    assert (classify(mapped) is None) == (classify(v4) is None)


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_6to4_and_nat64_forms_refuse_every_forbidden_ipv4_address(value):
    v4 = ipaddress.IPv4Address(value)
    six_to_four = ipaddress.IPv6Address((0x2002 << 112) | (value << 80) | 1)
    nat64 = ipaddress.IPv6Address(f"64:ff9b::{v4}")
    if classify(v4) is not None:
        assert classify(six_to_four) is not None
        assert classify(nat64) is not None


# -- host literals in URLs --------------------------------------------------------------

LOOPBACK_SPELLINGS = {
    "dotted": "http://127.0.0.1/",
    "decimal": "http://2130706433/",
    "hex": "http://0x7f000001/",
    "hex-uppercase-digits": "http://0x7F000001/",
    "hex-dotted": "http://0x7f.0.0.1/",
    "hex-every-part": "http://0x7f.0x0.0x0.0x1/",
    "octal-dotted": "http://0177.0.0.1/",
    "octal-whole": "http://017700000001/",
    "short-two-parts": "http://127.1/",
    "short-three-parts": "http://127.0.1/",
    "mixed-forms": "http://0x7f.0.01/",
    "trailing-dot": "http://127.0.0.1./",
    "with-port": "http://127.0.0.1:8080/hook",
    "fullwidth-digits": "http://\uff11\uff12\uff17.0.0.1/",
    "ideographic-full-stop": "http://127\u30020.0.1/",
    "ipv6-loopback": "http://[::1]/",
    "ipv4-mapped-literal": "http://[::ffff:127.0.0.1]/",
    "ipv4-mapped-hex-literal": "http://[::ffff:7f00:1]/",
    "ipv4-compatible-literal": "http://[::127.0.0.1]/",
    "nat64-literal": "http://[64:ff9b::127.0.0.1]/",
    "6to4-literal": "http://[2002:7f00:1::]/",
    "teredo-literal": "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
}


@pytest.mark.parametrize("url", list(LOOPBACK_SPELLINGS.values()), ids=list(LOOPBACK_SPELLINGS))
def test_every_spelling_of_loopback_is_refused(url):
    with pytest.raises(UnsafeDestination, match=r"loopback"):
        resolve_destination(url, resolver=public_resolver)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://10.1/", "10.0.0.1"),
        ("http://10.0x10203/", "10.1.2.3"),
        ("http://0xa9fea9fe/", "169.254.169.254"),
        ("http://2852039166/", "169.254.169.254"),
        ("http://0251.0376.0251.0376/", "169.254.169.254"),
        ("http://192.168.257/", "192.168.1.1"),
        ("http://0/", "0.0.0.0"),
        ("http://0x/", "0.0.0.0"),
    ],
    ids=[
        "short-10",
        "short-hex-tail",
        "hex-metadata",
        "decimal-metadata",
        "octal-metadata",
        "short-overflowing-tail",
        "zero",
        "bare-0x",
    ],
)
def test_numeric_host_forms_are_read_as_browsers_read_them(url, address):
    with pytest.raises(UnsafeDestination) as caught:
        resolve_destination(url, resolver=public_resolver)
    assert f"refused host {address}:" in str(caught.value)
    allowed = resolve_destination(url, allow=[f"{address}/32"], resolver=public_resolver)
    assert allowed.address == ipaddress.ip_address(address)
    assert allowed.host == address


@pytest.mark.parametrize(
    "url",
    [
        "http://256.0.0.1/",
        "http://1.2.3.4.5/",
        "http://127.0.0.08/",  # 08 is not octal
        "http://0x7g.0.0.1/",
        "http://4294967296/",
        "http://1.16777216/",
        "http://example.0x1/",
        "http://foo.123/",
    ],
)
def test_invalid_numeric_hosts_are_refused_rather_than_resolved(url):
    calls = []

    def resolver(host, port):
        calls.append(host)
        return ["93.184.216.34"]

    with pytest.raises(UnsafeDestination, match="numeric IPv4 address"):
        resolve_destination(url, resolver=resolver)
    assert calls == []


@pytest.mark.parametrize(
    "url",
    [
        "http://[fe80::1%25eth0]/",
        "http://[fe80::1%eth0]/",
        "http://[2606:4700::1111%25eth0]/",
    ],
    ids=["link-local-encoded-zone", "link-local-raw-zone", "public-with-zone"],
)
def test_zone_ids_are_refused(url):
    with pytest.raises(UnsafeDestination, match="zone id"):
        resolve_destination(url, resolver=public_resolver)


def test_zone_id_message_says_what_the_address_is():
    with pytest.raises(UnsafeDestination, match=r"'eth0'.*link-local"):
        check_url("http://[fe80::1%25eth0]:8080/")


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/",
        "http://LOCALHOST/",
        "http://localhost./",
        "http://localhost:8080/hook",
        "http://api.localhost/",
        "http://a.b.localhost./",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://metadata.google.internal./",
        "http://metadata/",
        "http://db.corp.internal/",
    ],
)
def test_internal_names_are_refused_before_resolution(url):
    calls = []

    def resolver(host, port):
        calls.append(host)
        return ["93.184.216.34"]

    with pytest.raises(UnsafeDestination, match="internal service"):
        resolve_destination(url, resolver=resolver)
    assert calls == []


@pytest.mark.parametrize(
    "url",
    [
        "http://user:password@example.com/",
        "http://user@example.com/",
        "https://:token@example.com/",
        "http://example.com@127.0.0.1/",
        "http://127.0.0.1@example.com/",
    ],
)
def test_urls_with_credentials_are_refused_without_echoing_them(url):
    with pytest.raises(UnsafeDestination, match="credentials") as caught:
        check_url(url)
    assert "password" not in str(caught.value)
    assert "token" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "ftp://example.com/",
        "dict://example.com:11211/",
        "ws://example.com/",
        "javascript:alert(1)",
        "//example.com/no-scheme",
        "example.com/no-scheme",
    ],
)
def test_non_http_schemes_are_refused(url):
    with pytest.raises(UnsafeDestination, match="scheme"):
        check_url(url)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http:///path-only", "no host"),
        ("http://example.com:0/", "port 0"),
        ("http://example.com:99999/", "cannot be parsed"),
        ("http://[::1/", "cannot be parsed"),
        ("http://[not-an-address]/", "cannot be parsed|not a valid IPv6"),
        ("http://exa mple.com/", "white space"),
        ("http://example.com\\@127.0.0.1/", "backslash"),
        ("http://example.com\t/", "white space"),
        ("http://ex%61mple.com/", "percent-encoded"),
        ("http://under..dots/", "not a valid host name"),
        ("http://bad!host/", "not a valid host name"),
        (b"http://example.com/", "must be a str"),
    ],
)
def test_malformed_urls_are_refused(url, match):
    with pytest.raises(UnsafeDestination, match=match):
        check_url(url)


def test_check_url_normalises_and_drops_the_fragment():
    split = check_url("HTTPS://Hooks.Example.com:8443/in?a=1#frag")
    assert split.scheme == "https"
    assert split.hostname == "hooks.example.com"
    assert split.port == 8443
    assert split.fragment == ""


# -- resolution -------------------------------------------------------------------------


def test_a_name_with_a_public_and_a_private_address_is_refused():
    resolver = fixed_resolver("93.184.216.34", "10.0.0.7")
    with pytest.raises(UnsafeDestination, match=r"resolves to 10\.0\.0\.7.*private"):
        resolve_destination("https://hooks.example.com/in", resolver=resolver)


def test_a_name_resolving_to_a_mapped_loopback_address_is_refused():
    resolver = fixed_resolver("::ffff:127.0.0.1")
    with pytest.raises(UnsafeDestination, match="loopback"):
        resolve_destination("https://hooks.example.com/in", resolver=resolver)


def test_resolver_answers_with_zone_ids_are_judged_by_their_address():
    resolver = fixed_resolver("fe80::1%eth0")
    with pytest.raises(UnsafeDestination, match="link-local"):
        resolve_destination("https://hooks.example.com/in", resolver=resolver)


def test_a_resolver_answer_that_is_no_address_is_refused():
    with pytest.raises(UnsafeDestination, match="not an IP address"):
        resolve_destination("https://hooks.example.com/", resolver=fixed_resolver("example.org"))


def test_an_empty_resolution_is_an_os_error():
    with pytest.raises(OSError, match="no addresses"):
        resolve_destination("https://hooks.example.com/", resolver=fixed_resolver())


def test_public_destination_is_pinned_with_every_checked_address():
    seen = []

    def resolver(host, port):
        seen.append((host, port))
        return ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "93.184.216.34"]

    destination = resolve_destination(
        "https://Hooks.Example.com./in/bound?x=1&y=2#ignored", resolver=resolver
    )
    assert seen == [("hooks.example.com", 443)]
    assert destination == Destination(
        scheme="https",
        host="hooks.example.com",
        port=443,
        address=ipaddress.ip_address("93.184.216.34"),
        target="/in/bound?x=1&y=2",
        addresses=(
            ipaddress.ip_address("93.184.216.34"),
            ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"),
        ),
    )
    assert destination.authority == "hooks.example.com:443"


@pytest.mark.parametrize(
    ("url", "address", "authority"),
    [
        ("http://93.184.216.34", "93.184.216.34", "93.184.216.34:80"),
        ("https://[2606:4700::1111]:8443", "2606:4700::1111", "[2606:4700::1111]:8443"),
    ],
)
def test_public_literals_pass_without_resolution(url, address, authority):
    def resolver(host, port):
        raise AssertionError("an IP literal must not be resolved")

    destination = resolve_destination(url, resolver=resolver)
    assert destination.address == ipaddress.ip_address(address)
    assert destination.target == "/"
    assert destination.authority == authority


def test_internationalised_names_are_resolved_in_their_ascii_form():
    seen = []

    def resolver(host, port):
        seen.append(host)
        return ["93.184.216.34"]

    resolve_destination("https://bücher.example/", resolver=resolver)
    assert seen == ["xn--bcher-kva.example"]


# -- the allow-list ---------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["127.0.0.1", "127.0.0.1/32", "127.0.0.0/8"])
def test_allow_list_lets_loopback_through(entry):
    destination = resolve_destination("http://127.0.0.1:8080/hook", allow=[entry])
    assert destination.address == ipaddress.ip_address("127.0.0.1")
    assert destination.port == 8080


def test_allow_list_covers_only_its_networks():
    resolver = fixed_resolver("10.1.2.3", "10.9.9.9")
    guard = NetGuard(allow=["10.1.0.0/16"], resolver=resolver)
    with pytest.raises(UnsafeDestination, match=r"10\.9\.9\.9"):
        guard.destination("http://receiver.corp.example/")
    assert guard.permits(ipaddress.ip_address("10.1.200.1"))
    assert not guard.permits(ipaddress.ip_address("10.2.0.1"))
    assert guard.permits(ipaddress.ip_address("93.184.216.34"))


@pytest.mark.parametrize(
    ("allow", "match"),
    [
        (["10.0.0.1/8"], "host bits"),
        (["localhost"], "host names cannot be allow-listed"),
        (["10.0.0.0/33"], "not an IP network"),
        ([8080], "int"),
        ("127.0.0.1", "single string"),
    ],
)
def test_bad_allow_list_entries_are_config_errors(allow, match):
    with pytest.raises(ConfigError, match=match):
        NetGuard(allow=allow)
