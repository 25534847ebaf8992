"""The demo behind `make run`: start the four services, push a small viral scenario through them
over HTTP, and print what happened at each stage.

Scenario (one fresh tenant per run): three seeders share on different channels; friends click
(and a link-preview bot fetches a link, which is not a click) and buy; a referee shares in turn
and the chain grows to generation 3; a seeder tries to refer herself; one purchase has no link;
a bound customer buys again through someone else's link and stays with her first referrer.
"""
from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections import Counter
from typing import Any

import asyncpg
import httpx

from kaskade_contracts import topics
from kaskade_devtools.stack import ROOT, Stack
from kaskade_devtools.testing import TopicWatcher, for_tenant, register_tenant

BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
BOT = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"


class Backend:
    """What a product backend does: record shares and report purchases."""

    def __init__(self, client: httpx.AsyncClient, auth: dict[str, str]) -> None:
        self.client, self.auth, self.codes = client, auth, {}

    async def share(self, customer: str, channel: str) -> str:
        r = await self.client.post("/v1/shares", headers=self.auth,
                                   json={"sharer_id": customer, "channel": channel})
        r.raise_for_status()
        self.codes[customer] = r.json()["referral_code"]
        print(f"  share     {customer:<6} on {channel:<9} -> {r.json()['referral_url']}")
        return self.codes[customer]

    async def click(self, sharer: str, user_agent: str) -> str | None:
        r = await self.client.get(f"/r/{self.codes[sharer]}", headers={"User-Agent": user_agent})
        click_id = httpx.URL(r.headers["location"]).params.get("kaskade_click")
        who = "bot preview" if user_agent == BOT else "visitor"
        print(f"  click     {who:<11} on {sharer}'s link -> {r.status_code} "
              f"({'click ' + click_id[:8] + '…' if click_id else 'redirected, not counted'})")
        return click_id

    async def purchase(self, customer: str, amount_minor: int, *, code: str | None = None,
                       click_id: str | None = None) -> None:
        body: dict[str, Any] = {"conversion_id": str(uuid.uuid4()), "customer_id": customer, "kind": "purchase",
                                "amount_minor": amount_minor, "currency": "EUR", "order_id": f"order-{customer}"}
        if code:
            body["referral_code"] = code
        if click_id:
            body["click_id"] = click_id
        r = await self.client.post("/v1/conversions", headers=self.auth, json=body)
        r.raise_for_status()
        via = "click" if click_id else ("code " + code if code else "no link")
        print(f"  purchase  {customer:<6} {amount_minor / 100:>7.2f} EUR via {via}")


async def scenario(stack: Stack, bootstrap: str) -> int:
    tenant = f"demo-{uuid.uuid4().hex[:6]}"
    print(f"\nTenant {tenant}: pushing the scenario through share-ingest at {stack.base_url}\n")
    async with httpx.AsyncClient(base_url=stack.base_url) as client, \
            TopicWatcher(bootstrap, (topics.ATTRIBUTIONS.name, topics.REWARDS.name), keep=for_tenant(tenant)) as w:
        b = Backend(client, await register_tenant(client, tenant))
        print(f"  operator  registered tenant {tenant} and issued its API key")
        for seeder, channel in (("anna", "whatsapp"), ("ben", "facebook"), ("clara", "linkedin")):
            await b.share(seeder, channel)
        await b.click("anna", BOT)
        dora_click = await b.click("anna", BROWSER)
        await b.purchase("dora", 5900, click_id=dora_click)
        await b.purchase("emil", 3200, code=b.codes["anna"])
        await b.purchase("felix", 8900, code=b.codes["ben"])
        # Time passes between generations: each referee buys, is attributed, then shares in turn.
        await w.wait_for(lambda x: any(e.payload.referee_id == "dora" for e in x.events("ConversionAttributed")),
                         30, "dora's attribution")
        await b.share("dora", "email")
        await b.purchase("gina", 4500, code=b.codes["dora"])
        await w.wait_for(lambda x: any(e.payload.referee_id == "gina" for e in x.events("ConversionAttributed")),
                         30, "gina's attribution")
        await b.share("gina", "x")
        await b.purchase("hanna", 2100, code=b.codes["gina"])
        await b.purchase("anna", 1500, code=b.codes["anna"])
        await b.purchase("ivan", 9900)
        await b.purchase("dora", 1200, code=b.codes["ben"])
        expected = {"ConversionAttributed": 6, "AttributionRejected": 1, "ConversionUnattributed": 1,
                    "RewardGranted": 6}
        try:
            await w.wait_for(lambda x: all(len(x.events(t)) >= n for t, n in expected.items()), 60,
                             "the scenario's outcomes")
        except TimeoutError as exc:
            print(f"\nFAILED: {exc}; service logs in {stack.log_dir}", file=sys.stderr)
            return 1
        await report(tenant, w)
    return 0


async def report(tenant: str, w: TopicWatcher) -> None:
    print("\nAttribution (kaskade.attributions.v1):")
    for e in w.events():
        p = e.payload
        if e.event_type == "ConversionAttributed":
            print(f"  {p.referee_id:<6} <- {p.referrer_id:<6} generation {p.generation}, root {p.root_seeder_id}, "
                  f"via {p.path.value}")
        elif e.event_type == "AttributionRejected":
            print(f"  {p.referee_id:<6} rejected: {p.reason.value} (referrer {p.referrer_id})")
        elif e.event_type == "ConversionUnattributed":
            print(f"  {p.customer_id:<6} unattributed: {p.reason}")
    print("\nRewards (public topic kaskade.rewards.v1):")
    for e in w.events("RewardGranted"):
        p = e.payload
        print(f"  {p.recipient_id:<6} {p.amount_minor / 100:>6.2f} {p.currency} {p.kind.value} ({p.status}) "
              f"for generation-{p.generation} conversion")
    conn = await asyncpg.connect(os.environ["KASKADE_ADMIN_DATABASE_URL"])
    try:
        for _ in range(50):
            notes = await conn.fetch("""SELECT recipient_id, template, status FROM notification.notifications
                                        WHERE tenant_id = $1 ORDER BY created_at""", tenant)
            if len(notes) >= len(w.events("RewardGranted")):
                break
            await asyncio.sleep(0.1)
        counts = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM share_ingest.shares WHERE tenant_id = $1) AS shares,
                      (SELECT count(*) FROM share_ingest.clicks WHERE tenant_id = $1) AS clicks,
                      (SELECT count(*) FROM share_ingest.conversions WHERE tenant_id = $1) AS purchases,
                      (SELECT max(generation) FROM attribution.bindings WHERE tenant_id = $1) AS depth,
                      (SELECT balance FROM reward.accounts WHERE tenant_id = $1 AND kind = 'campaign_budget')
                        AS budget_left""", tenant)
    finally:
        await conn.close()
    print("\nNotifications (pending, in notification's schema):")
    for n in notes:
        print(f"  {n['recipient_id']:<6} {n['template']} [{n['status']}]")
    kinds = Counter(e.event_type for e in w.events())
    print(f"\nSummary: {counts['shares']} shares, {counts['clicks']} counted clicks (bot preview not counted), "
          f"{counts['purchases']} purchases -> {kinds['ConversionAttributed']} attributed "
          f"(cascade depth {counts['depth']}), {kinds['AttributionRejected']} rejected, "
          f"{kinds['ConversionUnattributed']} unattributed -> {kinds['RewardGranted']} rewards, "
          f"{len(notes)} notifications; budget left {counts['budget_left'] / 100:.2f} EUR")


def main() -> int:
    stack = Stack(log_dir=ROOT / ".local/demo-logs", http_port=int(os.environ.get("KASKADE_DEMO_PORT", "8000")))
    print("Starting share-ingest, attribution, reward and notification as four processes ...")
    try:
        stack.start(timeout=90)
        return asyncio.run(scenario(stack, os.environ["KASKADE_KAFKA_BOOTSTRAP_SERVERS"]))
    finally:
        stack.stop()
        print(f"\nServices stopped; their JSON logs are in {stack.log_dir}")


if __name__ == "__main__":
    raise SystemExit(main())
