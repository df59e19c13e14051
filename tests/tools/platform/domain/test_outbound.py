"""Where the platform may send a request a user or a lender chose: public unicast addresses only;
loopback and plain http only when the deployment allows local receivers."""

from __future__ import annotations

import pytest

from tools.platform.domain.outbound import address_problem, url_problem

NOT_PUBLIC = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 around 127.0.0.1
    ("10.0.0.5", "private"),
    ("172.16.3.4", "private"),
    ("192.168.1.1", "private"),
    ("::ffff:10.0.0.5", "private"),
    ("64:ff9b::a00:5", "private"),  # NAT64 around 10.0.0.5
    ("fc00::1", "private"),
    ("169.254.169.254", "link-local"),  # the cloud metadata service
    ("::ffff:169.254.169.254", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("240.0.0.1", "reserved"),
    ("100.64.0.1", "reserved"),  # carrier-grade NAT
]


@pytest.mark.parametrize(("address", "kind"), NOT_PUBLIC)
def test_non_public_addresses_are_refused_naming_their_kind(address: str, kind: str) -> None:
    problem = address_problem(address, allow_local=False)
    assert problem is not None and f" {kind} address" in problem


@pytest.mark.parametrize(("address", "kind"), NOT_PUBLIC)
def test_allowing_local_receivers_opens_loopback_and_nothing_else(address: str, kind: str) -> None:
    assert (address_problem(address, allow_local=True) is None) == (kind == "loopback")


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::"]
)
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(address, allow_local=False) is None


@pytest.mark.parametrize(
    ("url", "strict", "local"),
    [
        ("https://lender.example.com/hooks", None, None),
        ("https://[2606:4700::1111]/h", None, None),
        ("http://localhost:3001/api/services/caas/deactivate", "https", None),
        ("https://localhost/h", "localhost", None),
        ("https://api.localhost/h", "localhost", None),
        ("https://localhost./h", "localhost", None),
        ("https://bücher.example/h", None, None),
        ("http://127.0.0.1:9000/h", "https", None),
        ("https://127.0.0.1/h", "loopback", None),
        ("https://[::ffff:127.0.0.1]/h", "loopback", None),
        ("https://169.254.169.254/latest/meta-data", "link-local", "link-local"),
        ("https://10.0.0.5/h", "private", "private"),
        ("https://2130706433/h", "DNS name", "DNS name"),  # 127.0.0.1 as one number
        ("https://0x7f.1/h", "DNS name", "DNS name"),
        ("https://user:pw@lender.example.com/h", "credentials", "credentials"),
        ("https://lender.example.com:99999/h", "valid URL", "valid URL"),
        ("ftp://lender.example.com/h", "https://", "https://"),
    ],
)
def test_urls_are_judged_on_scheme_credentials_and_literal_host(
    url: str, strict: str | None, local: str | None
) -> None:
    for allow_local, expected in ((False, strict), (True, local)):
        problem = url_problem(url, allow_local=allow_local)
        assert (problem is None) == (expected is None), (url, allow_local, problem)
        assert expected is None or (problem is not None and expected in problem)
