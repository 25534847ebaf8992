"""Webhook signing, retry decisions and the SSRF guard. Signatures are checked with the
`standardwebhooks` reference library."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from notification.webhooks import domain, ssrf
from notification.webhooks.domain import Policy, decide

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
POLICY = Policy(max_attempts=5, backoff_initial_s=10, backoff_max_s=3600, disable_after=timedelta(days=5))


def test_signatures_verify_with_the_reference_library() -> None:
    secret = domain.new_secret()
    body = b'{"type":"reward.granted","data":{"x":1}}'
    headers = domain.headers(secret, "msg_1", int(datetime.now(timezone.utc).timestamp()), body)

    assert Webhook(secret).verify(body, headers) == {"type": "reward.granted", "data": {"x": 1}}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(domain.new_secret()).verify(body, headers)


def test_the_webhook_id_depends_only_on_the_delivery() -> None:
    d = uuid.uuid4()
    assert domain.webhook_id(d) == domain.webhook_id(uuid.UUID(str(d))) == f"msg_{d.hex}"


def decision(code: int | None, attempt: int = 1, retry_after: str | None = None,
             failing_since: datetime | None = None, jitter: float = 0.0) -> domain.Outcome:
    return decide(status_code=code, retry_after=retry_after, attempt=attempt, failing_since=failing_since, now=NOW,
                  policy=POLICY, jitter=jitter)


def test_2xx_is_delivered() -> None:
    assert decision(204) == domain.Outcome("delivered")


@pytest.mark.parametrize("code", [None, 500, 502, 503, 429])
def test_timeouts_5xx_and_429_are_retried_with_growing_jittered_backoff(code: int | None) -> None:
    first, third = decision(code, 1), decision(code, 3)
    assert first.status == third.status == "pending"
    assert first.retry_at == NOW + timedelta(seconds=5)  # 10 s at jitter 0 -> half of it
    assert third.retry_at == NOW + timedelta(seconds=20)
    assert decision(code, 1, jitter=0.99).retry_at > first.retry_at


@pytest.mark.parametrize("code", [301, 400, 401, 404, 422])
def test_other_answers_fail_at_once(code: int) -> None:
    assert decision(code) == domain.Outcome("failed")


def test_410_disables_the_endpoint() -> None:
    outcome = decision(410)
    assert outcome.status == "failed" and "410" in (outcome.disable or "")


def test_retry_after_is_honoured_in_seconds_or_as_a_date_up_to_the_cap() -> None:
    assert decision(429, retry_after="120").retry_at == NOW + timedelta(seconds=120)
    assert decision(503, retry_after="Fri, 01 May 2026 12:10:00 GMT").retry_at == NOW + timedelta(minutes=10)
    assert decision(429, retry_after="999999").retry_at == NOW + timedelta(hours=1)
    assert decision(429, retry_after="soon").retry_at == NOW + timedelta(seconds=5)


def test_the_last_attempt_fails_the_delivery() -> None:
    assert decision(500, attempt=5).status == "failed"


def test_an_endpoint_failing_for_longer_than_the_limit_is_disabled() -> None:
    assert decision(500, failing_since=NOW - timedelta(days=4)).disable is None
    outcome = decision(500, failing_since=NOW - timedelta(days=5))
    assert outcome.status == "failed" and "failing since" in (outcome.disable or "")


@pytest.mark.parametrize("address", ["169.254.169.254", "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1",
                                     "0.0.0.0", "224.0.0.1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "127.0.0.1",
                                     "::1"])
def test_internal_addresses_are_refused(address: str) -> None:
    assert not ssrf.address_allowed(address, allow_loopback=False)


def test_loopback_is_allowed_only_when_configured() -> None:
    assert ssrf.address_allowed("127.0.0.1", allow_loopback=True)
    assert ssrf.address_allowed("::1", allow_loopback=True)
    assert not ssrf.address_allowed("10.0.0.1", allow_loopback=True)


def test_public_addresses_are_allowed() -> None:
    assert ssrf.address_allowed("93.184.215.14", allow_loopback=False)
    assert ssrf.address_allowed("2606:4700::1111", allow_loopback=False)


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "http:///x", "https://u:p@example.com/",
                                 "javascript:alert(1)", "http://example.com:99999/"])
def test_only_plain_http_urls_with_a_host(url: str) -> None:
    with pytest.raises(ssrf.UnsafeUrl):
        ssrf.split(url)


async def test_names_are_resolved_before_they_are_accepted() -> None:
    with pytest.raises(ssrf.UnsafeUrl):
        await ssrf.check("http://localhost:8080/hook", allow_loopback=False)
    await ssrf.check("http://localhost:8080/hook", allow_loopback=True)
    await ssrf.check("https://93.184.215.14/hook", allow_loopback=False)


class _Resolver:
    """Stands in for DNS: the name resolves to whatever the test says, as a rebinding attacker would."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[dict[str, object]]:
        return [{"hostname": host, "host": a, "port": port, "family": family, "proto": 0, "flags": 0}
                for a in self.addresses]


async def test_each_connection_resolves_again_and_drops_internal_addresses() -> None:
    guard = ssrf.GuardedResolver(allow_loopback=False)
    guard._inner = _Resolver("93.184.215.14", "10.0.0.5")  # noqa: SLF001 - DNS is what the test controls
    assert [r["host"] for r in await guard.resolve("hooks.example.com", 443)] == ["93.184.215.14"]

    guard._inner = _Resolver("169.254.169.254")  # noqa: SLF001 - re-pointed after registration
    with pytest.raises(OSError):
        await guard.resolve("hooks.example.com", 443)


def test_ip_literals_are_checked_before_connecting() -> None:
    assert ssrf.literal_refused("http://10.0.0.5/x", allow_loopback=True)
    assert ssrf.literal_refused("http://127.0.0.1:8080/x", allow_loopback=False)
    assert not ssrf.literal_refused("http://127.0.0.1:8080/x", allow_loopback=True)
    assert not ssrf.literal_refused("https://hooks.example.com/x", allow_loopback=False)
