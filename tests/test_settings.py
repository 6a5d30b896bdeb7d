"""The command line: defaults and refusals."""

from __future__ import annotations

import pytest

from wyoming_polytts.settings import ip_address, parse_settings


def test_defaults() -> None:
    settings = parse_settings([])
    assert settings.uri == "tcp://0.0.0.0:10200"
    assert settings.http_uri == "http://0.0.0.0:10201"
    assert settings.whole_sentences is True and settings.decode_windows is True
    assert settings.allow_url_download is False and settings.allow_private_urls is False
    assert settings.max_prompt_seconds == 10.0


def test_options() -> None:
    settings = parse_settings(
        ["--no-http", "--first-clause", "--admin-token", "t", "--max-prompt-seconds", "5"]
        + ["--decode-whole"]
    )
    assert settings.http_uri is None
    assert settings.whole_sentences is False and settings.decode_windows is False
    assert settings.admin_token == "t"
    assert settings.max_prompt_seconds == 5.0


@pytest.mark.parametrize(
    "argv",
    [
        ["--http-uri", "tcp://0.0.0.0:1"],
        ["--http-uri", "http://host-without-port"],
        ["--max-prompt-seconds", "1"],
        ["--speed", "9"],
        ["--workers", "0"],
        ["--idle-timeout", "0"],
        ["--write-timeout", "-1"],
        ["--write-timeout", "nan"],
        ["--idle-timeout", "inf"],
        ["--ingress-proxy", "homeassistant"],
    ],
)
def test_bad_values_are_refused(argv: list) -> None:
    with pytest.raises(SystemExit):
        parse_settings(argv)


@pytest.mark.parametrize("given", ["172.30.32.2", "::ffff:172.30.32.2", "::FFFF:AC1E:2002"])
def test_an_ingress_proxy_is_one_address_however_it_is_written(given: str) -> None:
    """An IPv4 address mapped into IPv6 is the IPv4 address, as peers are seen."""
    assert parse_settings(["--ingress-proxy", given]).ingress_proxies == ("172.30.32.2",)
    assert ip_address(given) == ip_address("172.30.32.2")
