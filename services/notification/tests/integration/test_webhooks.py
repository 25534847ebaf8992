"""Webhooks end to end: tenants register endpoints over notification's API, events on
kaskade.rewards.v1 become signed POSTs to a real HTTP server in this process, verified with the
`standardwebhooks` reference library as the receiving client would."""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from kaskade_contracts import topics
from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import (CampaignBudgetWarning, CustomerProfileUpdated, RewardGranted, RewardKind,
                                      RewardRevoked, RewardRole)
from kaskade_devtools.testing import TopicWatcher, for_tenant, produce

pytestmark = pytest.mark.integration


def granted(tenant: str, recipient: str = "anna") -> Envelope[RewardGranted]:
    return new_envelope(RewardGranted(
        reward_id=uuid.uuid4(), idempotency_key=uuid.uuid4().hex, campaign_id="default", conversion_id=uuid.uuid4(),
        rule_id="r", recipient_id=recipient, role=RewardRole.referrer, kind=RewardKind.account_credit,
        amount_minor=500, currency="EUR", generation=1), tenant_id=tenant)


def revoked(tenant: str) -> Envelope[RewardRevoked]:
    return new_envelope(RewardRevoked(
        reward_id=uuid.uuid4(), idempotency_key="k", campaign_id="default", rule_id="r", recipient_id="anna",
        role=RewardRole.referrer, amount_minor=500, currency="EUR", remaining_minor=0, reason="refund",
        compensated=False), tenant_id=tenant)


async def register(service: Any, auth: dict[str, str], url: str, *types: str) -> dict[str, Any]:
    r = await service.client.post("/v1/webhooks/endpoints", headers=auth,
                                  json={"url": url, "event_types": list(types or ["reward.granted"])})
    assert r.status_code == 201, r.text
    return r.json()


async def until(predicate: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := await predicate() if asyncio.iscoroutinefunction(predicate) else predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return result


async def delivery(service: Any, auth: dict[str, str], status: str, endpoint_id: str) -> dict[str, Any]:
    async def find() -> dict[str, Any] | None:
        r = await service.client.get("/v1/webhooks/deliveries", headers=auth,
                                     params={"endpoint_id": endpoint_id, "status": status})
        items = r.json()["items"]
        return items[0] if items else None
    summary = await until(find, f"a {status} delivery")
    return (await service.client.get(f"/v1/webhooks/deliveries/{summary['delivery_id']}", headers=auth)).json()


async def test_deliveries_are_signed_per_standard_webhooks_and_follow_the_subscription(
        service: Any, receiver: Any, auth: dict[str, str], infra: Any, tenant: str) -> None:
    grants = await register(service, auth, receiver.url(f"{tenant}-grants"), "reward.granted")
    revocations = await register(service, auth, receiver.url(f"{tenant}-revocations"), "reward.revoked",
                                 "campaign.budget_warning")
    assert grants["secret"].startswith("whsec_")
    listed = (await service.client.get("/v1/webhooks/endpoints", headers=auth)).json()
    assert [e["endpoint_id"] for e in listed] == [grants["endpoint_id"], revocations["endpoint_id"]]
    assert all("secret" not in e for e in listed)

    g, r = granted(tenant), revoked(tenant)
    warning = new_envelope(CampaignBudgetWarning(campaign_id="default", budget_minor=1000, committed_minor=800,
                                                 currency="EUR", threshold_percent=80), tenant_id=tenant)
    await produce(infra.kafka_bootstrap_servers, [g, r, warning])
    [hit] = await until(lambda: receiver.at(f"{tenant}-grants"), "the grant")
    await until(lambda: len(receiver.at(f"{tenant}-revocations")) == 2, "the revocation and the warning")

    body = Webhook(grants["secret"]).verify(hit.body, hit.headers)
    assert (body["type"], body["data"]["reward_id"], body["data"]["event_id"]) == (
        "reward.granted", str(g.payload.reward_id), str(g.event_id))
    types = sorted(Webhook(revocations["secret"]).verify(h.body, h.headers)["type"]
                   for h in receiver.at(f"{tenant}-revocations"))
    assert types == ["campaign.budget_warning", "reward.revoked"]
    with pytest.raises(Exception):
        Webhook(revocations["secret"]).verify(hit.body, hit.headers)  # another endpoint's secret


async def test_signing_secrets_are_sealed_at_rest_and_clear_ones_from_before_get_sealed(
        service: Any, receiver: Any, auth: dict[str, str], infra: Any, tenant: str, admin: Any) -> None:
    endpoint = await register(service, auth, receiver.url(f"{tenant}-sealed"), "reward.granted")
    stored = "SELECT secret FROM notification.webhook_endpoints WHERE endpoint_id = $1"
    sealed = await admin.fetchval(stored, uuid.UUID(endpoint["endpoint_id"]))
    assert sealed.startswith("v1.") and endpoint["secret"] not in sealed and endpoint["secret"][6:] not in sealed

    # A row from before sealing existed holds its secret in clear: the reseal job seals it.
    await admin.execute("UPDATE notification.webhook_endpoints SET secret = $2 WHERE endpoint_id = $1",
                        uuid.UUID(endpoint["endpoint_id"]), endpoint["secret"])
    async with service.runtime.pool.acquire() as conn:
        await service.runtime.webhooks.reseal(conn)
    resealed = await admin.fetchval(stored, uuid.UUID(endpoint["endpoint_id"]))
    assert resealed.startswith("v1.") and resealed != sealed and endpoint["secret"] not in resealed

    g = granted(tenant)
    await produce(infra.kafka_bootstrap_servers, [g])
    [hit] = await until(lambda: receiver.at(f"{tenant}-sealed"), "the grant")
    assert Webhook(endpoint["secret"]).verify(hit.body, hit.headers)["data"]["reward_id"] == str(g.payload.reward_id)


async def test_5xx_429_and_timeouts_are_retried_with_the_same_webhook_id(
        service: Any, receiver: Any, auth: dict[str, str], infra: Any, tenant: str) -> None:
    path = f"{tenant}-flaky"
    receiver.script[path] = [{"status": 503, "headers": {"Retry-After": "0"}}, {"status": 429},
                             {"delay": 3}, {"status": 200}]
    endpoint = await register(service, auth, receiver.url(path))
    await produce(infra.kafka_bootstrap_servers, [granted(tenant)])

    done = await delivery(service, auth, "delivered", endpoint["endpoint_id"])
    hits = receiver.at(path)
    assert len({h.headers["webhook-id"] for h in hits}) == 1 and hits[0].headers["webhook-id"] == done["webhook_id"]
    for h in hits:
        Webhook(endpoint["secret"]).verify(h.body, h.headers)
    log = done["attempt_log"]
    assert [a["status_code"] for a in log] == [503, 429, None, 200]
    assert "timeout" in log[2]["error"]
    assert done["attempts"] == 4


async def test_410_disables_the_endpoint_with_a_notice_and_it_can_be_enabled_again(
        service: Any, receiver: Any, auth: dict[str, str], infra: Any, tenant: str) -> None:
    path = f"{tenant}-gone"
    receiver.script[path] = [{"status": 410}]
    endpoint = await register(service, auth, receiver.url(path))
    async with TopicWatcher(infra.kafka_bootstrap_servers, (topics.NOTIFICATIONS.name,),
                            keep=for_tenant(tenant)) as ops:
        await produce(infra.kafka_bootstrap_servers, [granted(tenant)])
        failed = await delivery(service, auth, "failed", endpoint["endpoint_id"])
        await ops.wait_for(lambda w: w.events("WebhookEndpointDisabled"), 30, "WebhookEndpointDisabled")
    [event] = ops.events("WebhookEndpointDisabled")
    assert (str(event.payload.endpoint_id), event.payload.url) == (endpoint["endpoint_id"], receiver.url(path))
    assert "410" in event.payload.reason
    assert [a["status_code"] for a in failed["attempt_log"]] == [410]
    view = (await service.client.get(f"/v1/webhooks/endpoints/{endpoint['endpoint_id']}", headers=auth)).json()
    assert view["status"] == "disabled" and "410" in view["disabled_reason"]
    [notice] = (await service.client.get("/v1/webhooks/notices", headers=auth)).json()
    assert (notice["kind"], notice["endpoint_id"]) == ("endpoint_disabled", endpoint["endpoint_id"])

    r = await service.client.patch(f"/v1/webhooks/endpoints/{endpoint['endpoint_id']}", json={"enabled": True},
                                   headers=auth)
    assert r.json()["status"] == "active"
    redo = await service.client.post(f"/v1/webhooks/deliveries/{failed['delivery_id']}/redeliver", headers=auth)
    assert redo.status_code == 202
    again = await delivery(service, auth, "delivered", endpoint["endpoint_id"])
    assert [a["status_code"] for a in again["attempt_log"]] == [410, 200]
    assert {h.headers["webhook-id"] for h in receiver.at(path)} == {failed["webhook_id"]}


async def test_an_endpoint_failing_for_long_is_disabled(service: Any, receiver: Any, auth: dict[str, str],
                                                        infra: Any, tenant: str) -> None:
    path = f"{tenant}-broken"
    receiver.script[path] = [{"status": 500}] * 1000
    endpoint = await register(service, auth, receiver.url(path))
    async with service.runtime.pool.acquire() as conn:  # as if its failures had begun days ago
        await conn.execute("""UPDATE webhook_endpoints SET failing_since = now() - interval '6 days'
                              WHERE endpoint_id = $1""", uuid.UUID(endpoint["endpoint_id"]))
    await produce(infra.kafka_bootstrap_servers, [granted(tenant)])

    async def disabled() -> bool:
        r = await service.client.get(f"/v1/webhooks/endpoints/{endpoint['endpoint_id']}", headers=auth)
        return r.json()["status"] == "disabled"
    await until(disabled, "the endpoint to be disabled")
    [notice] = (await service.client.get("/v1/webhooks/notices", headers=auth)).json()
    assert "failing since" in notice["detail"]
    failed = await delivery(service, auth, "failed", endpoint["endpoint_id"])
    assert [a["status_code"] for a in failed["attempt_log"]] == [500]


async def test_a_hanging_endpoint_holds_only_its_own_slots_and_no_email_waits(
        service: Any, receiver: Any, inbox: Any, keys: Any, infra: Any, tenant: str) -> None:
    slow_tenant, fast_tenant = tenant, f"nt-{uuid.uuid4().hex[:10]}"
    slow_auth, fast_auth = await keys(slow_tenant), await keys(fast_tenant)
    receiver.release.clear()
    receiver.script[f"{slow_tenant}-slow"] = [{"hang": True}] * 100
    await register(service, slow_auth, receiver.url(f"{slow_tenant}-slow"))
    await register(service, fast_auth, receiver.url(f"{fast_tenant}-fast"))

    await produce(infra.kafka_bootstrap_servers, [granted(slow_tenant, f"c{i}") for i in range(10)])
    await until(lambda: receiver.in_flight.get(f"{slow_tenant}-slow"), "the slow endpoint to be hanging")
    await produce(infra.kafka_bootstrap_servers, [granted(fast_tenant, f"c{i}") for i in range(10)])
    await until(lambda: len(receiver.at(f"{fast_tenant}-fast")) == 10, "the other tenant's deliveries")
    await produce(infra.kafka_bootstrap_servers, [new_envelope(CustomerProfileUpdated(
        customer_id="mia", email=f"mia@{fast_tenant}.test"), tenant_id=fast_tenant)])
    await produce(infra.kafka_bootstrap_servers, [granted(fast_tenant, "mia")])
    await inbox.wait(lambda: [m for m in inbox.messages if m["To"] == f"mia@{fast_tenant}.test"], "an email")

    assert receiver.max_in_flight[f"{slow_tenant}-slow"] <= service.settings.webhook_per_endpoint
    assert receiver.at(f"{slow_tenant}-slow") == []  # all its requests still hang
    receiver.release.set()


async def test_unsafe_urls_are_refused_and_tenants_see_only_their_own(
        service: Any, receiver: Any, auth: dict[str, str], keys: Any, tenant: str) -> None:
    for url in ("http://169.254.169.254/latest/meta-data", "http://10.1.2.3/hook", "http://192.168.0.10/",
                "http://[fe80::1]/hook", "http://100.64.0.1/", "ftp://example.com/hook", "https://u:p@example.com/",
                "http:///nohost"):
        r = await service.client.post("/v1/webhooks/endpoints", headers=auth,
                                      json={"url": url, "event_types": ["reward.granted"]})
        assert (r.status_code, r.json()["error"]) == (422, "unsafe_url"), url
    mine = await register(service, auth, receiver.url(f"{tenant}-mine"))
    other = await keys(f"nt-{uuid.uuid4().hex[:10]}")

    assert (await service.client.get(f"/v1/webhooks/endpoints/{mine['endpoint_id']}", headers=other)).status_code == 404
    assert (await service.client.get("/v1/webhooks/endpoints", headers=other)).json() == []
    assert (await service.client.get("/v1/webhooks/endpoints")).status_code == 401
    r = await service.client.post("/v1/webhooks/endpoints", headers=auth,
                                  json={"url": receiver.url("x"), "event_types": ["reward.exploded"]})
    assert r.status_code == 422


async def test_deliveries_page_newest_first(service: Any, receiver: Any, auth: dict[str, str], infra: Any,
                                            tenant: str) -> None:
    endpoint = await register(service, auth, receiver.url(f"{tenant}-pages"))
    for _ in range(5):
        await produce(infra.kafka_bootstrap_servers, [granted(tenant)])
    await until(lambda: len(receiver.at(f"{tenant}-pages")) == 5, "five deliveries")

    seen, cursor = [], None
    while True:
        page = (await service.client.get("/v1/webhooks/deliveries", headers=auth,
                                         params={"limit": 2, **({"cursor": cursor} if cursor else {})})).json()
        seen += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert len({d["delivery_id"] for d in seen}) == 5
    assert [d["created_at"] for d in seen] == sorted((d["created_at"] for d in seen), reverse=True)
    assert {d["endpoint_id"] for d in seen} == {endpoint["endpoint_id"]}
    assert (await service.client.get("/v1/webhooks/deliveries", headers=auth,
                                     params={"cursor": "nonsense"})).status_code == 400
