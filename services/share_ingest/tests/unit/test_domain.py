"""share-ingest's rules: referral codes, bot clicks, click ids on the landing URL, repeat clicks, IP hashing."""
from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest

from kaskade_contracts.events import Channel, RecordShare
from share_ingest import domain

SECRET = b"test-secret-0123456789abcdef"
SHARE = uuid.UUID("22222222-2222-4222-8222-222222222222")
URL_SAFE_12 = re.compile(r"^[A-Za-z0-9_-]{12}$")


# --- referral codes -------------------------------------------------------------------------

def test_replaying_a_share_returns_the_same_code() -> None:
    assert domain.referral_code(SECRET, "acme", SHARE) == domain.referral_code(SECRET, "acme", uuid.UUID(str(SHARE)))


def test_codes_differ_across_tenants_shares_and_secrets() -> None:
    codes = {
        domain.referral_code(SECRET, "acme", SHARE),
        domain.referral_code(SECRET, "globex", SHARE),
        domain.referral_code(SECRET, "acme", uuid.UUID("33333333-3333-4333-8333-333333333333")),
        domain.referral_code(b"another-secret", "acme", SHARE),
    }
    assert len(codes) == 4


def test_code_is_twelve_url_safe_characters_and_a_valid_contract_code() -> None:
    for _ in range(200):
        code = domain.referral_code(SECRET, "acme", uuid.uuid4())
        assert URL_SAFE_12.fullmatch(code), code
    # ShareRecorded refuses a code its contract does not allow.
    cmd = RecordShare(share_id=SHARE, sharer_id="cust-1", channel=Channel.email)
    fact = domain.share_recorded(cmd, domain.referral_code(SECRET, "acme", SHARE), "https://go.example.com/")
    assert fact.referral_url == f"https://go.example.com/r/{fact.referral_code}"
    assert fact.sharer_id == "cust-1" and fact.share_id == SHARE


def test_ten_thousand_shares_get_ten_thousand_codes() -> None:
    codes = {domain.referral_code(SECRET, "acme", uuid.UUID(int=i)) for i in range(10_000)}
    assert len(codes) == 10_000


def test_idempotency_key_maps_to_one_share_id_per_tenant() -> None:
    a = domain.share_id_for_idempotency_key("acme", "order-7")
    assert a == domain.share_id_for_idempotency_key("acme", "order-7")
    assert a != domain.share_id_for_idempotency_key("globex", "order-7")
    assert a != domain.share_id_for_idempotency_key("acme", "order-8")


# --- bots -----------------------------------------------------------------------------------

BOTS = {
    "facebook": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "slack": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "twitter": "Twitterbot/1.0",
    "linkedin": "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "whatsapp": "WhatsApp/2.23.20.0 A",
    "google": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "telegram": "TelegramBot (like TwitterBot)",
    "discord": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "curl": "curl/8.4.0",
    "headless-chrome": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "HeadlessChrome/120.0.0.0 Safari/537.36",
    "empty": "",
}

PEOPLE = {
    "chrome-windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                      "Chrome/124.0.0.0 Safari/537.36",
    "chrome-android": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                      "Chrome/124.0.6367.82 Mobile Safari/537.36",
    "firefox-linux": "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "firefox-android": "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0",
    "safari-iphone": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                     "Version/17.4 Mobile/15E148 Safari/604.1",
    "safari-mac": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                  "Version/17.4 Safari/605.1.15",
    "facebook-in-app": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                       "(KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/460.0.0.36.105;FBBV/590000000]",
    "linkedin-in-app": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                       "(KHTML, like Gecko) Mobile/15E148 [LinkedInApp]/9.29.1",
}


@pytest.mark.parametrize("ua", BOTS.values(), ids=BOTS.keys())
def test_link_preview_fetchers_and_crawlers_are_bots(ua: str) -> None:
    assert domain.is_bot(ua)


@pytest.mark.parametrize("ua", PEOPLE.values(), ids=PEOPLE.keys())
def test_real_browsers_are_people(ua: str) -> None:
    assert not domain.is_bot(ua)


def test_pinterest_in_app_browser_is_a_person() -> None:
    assert not domain.is_bot("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                             "(KHTML, like Gecko) Mobile/15E148 [Pinterest/iOS]")


def test_pinterest_crawlers_are_bots() -> None:
    assert domain.is_bot("Pinterest/0.2 (+http://www.pinterest.com/bot.html)")
    assert domain.is_bot("Mozilla/5.0 (compatible; Pinterestbot/1.0; +http://www.pinterest.com/bot.html)")


# --- landing URL ----------------------------------------------------------------------------

CLICK = uuid.UUID("33333333-3333-4333-8333-333333333333")


def test_landing_url_keeps_its_query_and_fragment_and_gains_click_and_code() -> None:
    url = domain.landing_url_with_click("https://shop.example.com/welcome/?utm_source=mail&lang=de&q=a%20b#offer",
                                        CLICK, "q8ZbN2xk4T")
    parts = urlsplit(url)

    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == ("https", "shop.example.com", "/welcome/",
                                                                        "offer")
    assert parse_qsl(parts.query) == [("utm_source", "mail"), ("lang", "de"), ("q", "a b"),
                                      ("kaskade_click", str(CLICK)), ("ref", "q8ZbN2xk4T")]


def test_landing_url_without_query_gets_one() -> None:
    url = domain.landing_url_with_click("https://shop.example.com", CLICK, "q8ZbN2xk4T")
    assert url == f"https://shop.example.com?kaskade_click={CLICK}&ref=q8ZbN2xk4T"


def test_landing_url_keeps_blank_params() -> None:
    url = domain.landing_url_with_click("https://shop.example.com/?promo=&x=1", CLICK, "q8ZbN2xk4T")
    assert parse_qsl(urlsplit(url).query, keep_blank_values=True)[:2] == [("promo", ""), ("x", "1")]


# --- repeat clicks --------------------------------------------------------------------------

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("ago", "repeat"), [
    (timedelta(0), True),
    (timedelta(seconds=1), True),
    (timedelta(seconds=30) - timedelta(microseconds=1), True),
    (timedelta(seconds=30), False),
    (timedelta(seconds=31), False),
    (timedelta(days=1), False),
], ids=["same-instant", "one-second", "just-inside", "exactly-window", "just-outside", "a-day"])
def test_repeat_click_window_edges(ago: timedelta, repeat: bool) -> None:
    assert domain.is_repeat_click(NOW - ago, NOW, 30) is repeat


def test_first_click_is_never_a_repeat() -> None:
    assert domain.is_repeat_click(None, NOW, 30) is False


def test_repeat_window_compares_instants_across_offsets() -> None:
    last = (NOW - timedelta(seconds=10)).astimezone(timezone(timedelta(hours=-5)))
    assert domain.is_repeat_click(last, NOW, 30) is True


# --- IP hashing -----------------------------------------------------------------------------

@pytest.mark.parametrize("ip", ["203.0.113.7", "2001:db8::1", "10.0.0.1"])
def test_ip_hash_is_keyed_stable_and_never_the_ip(ip: str) -> None:
    digest = domain.ip_hash(SECRET, ip)

    assert digest == domain.ip_hash(SECRET, ip)
    assert digest != domain.ip_hash(b"another-secret", ip)
    assert ip not in digest
    # Not a plain hash an attacker could precompute for all 2^32 IPv4 addresses.
    assert digest not in (hashlib.sha256(ip.encode()).hexdigest(), hashlib.sha256(ip.encode()).hexdigest()[:32])
    assert len(digest) <= 128  # fits LinkClicked.ip_hash


def test_different_ips_hash_differently() -> None:
    hashes = {domain.ip_hash(SECRET, f"198.51.100.{i}") for i in range(256)}
    assert len(hashes) == 256


def test_click_fact_truncates_oversized_headers_to_the_contract() -> None:
    click = domain.link_clicked(CLICK, "q8ZbN2xk4T", "spring", "cust-1", "v" * 100,
                                domain.ip_hash(SECRET, "203.0.113.7"), "U" * 2000, "https://r.example/" + "x" * 5000)
    assert len(click.visitor_id) == 64
    assert len(click.user_agent) == 512
    assert len(click.referer) == 2048
    assert click.sharer_id == "cust-1" and click.click_id == CLICK
