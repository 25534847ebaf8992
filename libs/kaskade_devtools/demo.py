"""The demo behind `make run`: start the four services, push a small viral scenario through them
over HTTP, and print what happened at each stage.

Scenario (one fresh tenant per run): the tenant sets its campaign (5 EUR per referral plus 2%, a
10 EUR discount code for each new customer, 20% for the referrer's own referrer, a bonus at the
2nd referral) and a webhook endpoint; three seeders share on different channels; friends click
(a link-preview bot fetches a link too, which is not a click) and buy; a referee shares in turn
and the chain grows to generation 3; a seeder tries to refer herself; one purchase has no link;
a bound customer buys again through someone else's link and stays with her first referrer; one
purchase is refunded. A local mail server and webhook endpoint receive what notification sends.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import sys
import uuid
from typing import Any

import httpx

from kaskade_contracts import topics
from kaskade_devtools.demo_report import report
from kaskade_devtools.groups import own_names, start_at_end
from kaskade_devtools.sinks import MailSink, WebhookSink
from kaskade_devtools.stack import ROOT, Stack
from kaskade_devtools.testing import TopicWatcher, for_tenant, register_tenant

BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
BOT = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
PEOPLE = {"anna": "de", "ben": "en", "clara": "en", "dora": "de", "emil": "de", "felix": "en", "gina": "en",
          "hanna": "de", "ivan": "en"}
TERMS: dict[str, Any] = {
    "name": "Tell a friend", "landing_url": "https://shop.example.com/welcome", "currency": "EUR",
    "budget_minor": 50_000, "holding_days": 14,
    "referrer_reward": {"kind": "account_credit", "amount_minor": 500, "percent_bps": 200},
    "referee_reward": {"kind": "discount_code", "amount_minor": 1000},
    "cascade": {"fraction_bps": 2000, "max_depth": 2},
    "milestones": [{"referrals": 2, "reward": {"kind": "account_credit", "amount_minor": 1000}}],
    # The scripted shoppers buy in the second they click; real ones take longer, and the default
    # (10 s) refuses such purchases as click injection.
    "fraud": {"min_click_to_conversion_seconds": 0},
}


class Backend:
    """What a product backend does: set up its campaign, record shares, report purchases."""

    def __init__(self, client: httpx.AsyncClient, auth: dict[str, str]) -> None:
        self.client, self.auth, self.codes, self.orders = client, auth, {}, {}

    async def setup(self, webhooks: WebhookSink, notification_url: str) -> None:
        (await self.client.put("/v1/campaigns/default", headers=self.auth, json=TERMS)).raise_for_status()
        print("  campaign  5.00 EUR + 2% per referral, 10.00 EUR discount code for the friend, 20% to the "
              "referrer's referrer, a bonus at the 2nd referral, budget 500.00 EUR, rewards held 14 days")
        for who, locale in PEOPLE.items():
            r = await self.client.put(f"/v1/customers/{who}", headers=self.auth,
                                      json={"email": f"{who}@example.org", "locale": locale})
            r.raise_for_status()
        print(f"  profiles  {len(PEOPLE)} customers with email and language (de/en)")
        r = await self.client.post(f"{notification_url}/v1/webhooks/endpoints", headers=self.auth,
                                   json={"url": webhooks.url, "event_types": ["reward.granted", "reward.revoked"]})
        r.raise_for_status()
        webhooks.secret = r.json()["secret"]
        print(f"  webhook   {webhooks.url} for reward.granted and reward.revoked (secret shown once)")

    async def share(self, customer: str, channel: str) -> str:
        r = await self.client.post("/v1/shares", headers=self.auth, json={"sharer_id": customer, "channel": channel})
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
        conversion = str(uuid.uuid4())
        body: dict[str, Any] = {"conversion_id": conversion, "customer_id": customer, "kind": "purchase",
                                "amount_minor": amount_minor, "currency": "EUR", "order_id": f"order-{conversion[:8]}"}
        if code:
            body["referral_code"] = code
        if click_id:
            body["click_id"] = click_id
        (await self.client.post("/v1/conversions", headers=self.auth, json=body)).raise_for_status()
        self.orders.setdefault(customer, conversion)
        via = "click" if click_id else ("code " + code if code else "no link")
        print(f"  purchase  {customer:<6} {amount_minor / 100:>7.2f} EUR via {via}")

    async def refund(self, customer: str, amount_minor: int) -> None:
        r = await self.client.post("/v1/refunds", headers=self.auth, json={
            "refund_id": str(uuid.uuid4()), "conversion_id": self.orders[customer], "amount_minor": amount_minor})
        r.raise_for_status()
        print(f"  refund    {customer:<6} {amount_minor / 100:>7.2f} EUR of the first purchase")


def attributed(customer: str) -> Any:
    return lambda w: any(e.payload.referee_id == customer for e in w.events("ConversionAttributed"))


async def scenario(stack: Stack, bootstrap: str, mails: MailSink, webhooks: WebhookSink) -> int:
    tenant = f"demo-{uuid.uuid4().hex[:6]}"
    print(f"\nTenant {tenant}: pushing the scenario through share-ingest at {stack.base_url}\n")
    async with httpx.AsyncClient(base_url=stack.base_url) as client, \
            TopicWatcher(bootstrap, (topics.ATTRIBUTIONS.name, topics.REWARDS.name), keep=for_tenant(tenant)) as w:
        auth = await register_tenant(client, tenant)
        print(f"  operator  registered tenant {tenant} and issued its API key")
        await wait_for_key(client, stack, auth)
        b = Backend(client, auth)
        await b.setup(webhooks, stack.url("notification"))
        for seeder, channel in (("anna", "whatsapp"), ("ben", "facebook"), ("clara", "linkedin")):
            await b.share(seeder, channel)
        await b.click("anna", BOT)
        await b.purchase("dora", 5900, click_id=await b.click("anna", BROWSER))
        await b.purchase("emil", 3200, code=b.codes["anna"])
        await b.purchase("felix", 8900, code=b.codes["ben"])
        # Time passes between generations: each referee buys, is attributed, then shares in turn.
        await w.wait_for(attributed("dora"), 30, "dora's attribution")
        await b.share("dora", "email")
        await b.purchase("gina", 4500, code=b.codes["dora"])
        await w.wait_for(attributed("gina"), 30, "gina's attribution")
        await b.share("gina", "x")
        await b.purchase("hanna", 2100, code=b.codes["gina"])
        await b.purchase("anna", 1500, code=b.codes["anna"])
        await b.purchase("ivan", 9900)
        await b.purchase("dora", 1200, code=b.codes["ben"])
        await w.wait_for(attributed("felix"), 30, "felix's attribution")
        await b.refund("felix", 8900)
        expected = {"ConversionAttributed": 6, "AttributionRejected": 1, "ConversionUnattributed": 1,
                    "AttributionReversed": 1, "RewardRevoked": 2}
        try:
            await w.wait_for(lambda x: all(len(x.events(t)) >= n for t, n in expected.items()), 60,
                             "the scenario's outcomes")
        except TimeoutError as exc:
            print(f"\nFAILED: {exc}; service logs in {stack.log_dir}", file=sys.stderr)
            return 1
        await report(tenant, w, stack, auth, mails, webhooks)
    return 0


async def wait_for_key(client: httpx.AsyncClient, stack: Stack, auth: dict[str, str]) -> None:
    """The other services learn a new key from kaskade.tenants.v1 within about a second."""
    for _ in range(100):
        if (await client.get(f"{stack.url('notification')}/v1/webhooks/endpoints", headers=auth)).status_code == 200:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the new API key did not reach notification")


async def run(stack: Stack) -> int:
    with MailSink(int(os.environ.get("KASKADE_DEMO_SMTP_PORT", "2525"))) as mails:
        async with WebhookSink(int(os.environ.get("KASKADE_DEMO_WEBHOOK_PORT", "8090"))) as webhooks:
            return await scenario(stack, os.environ["KASKADE_KAFKA_BOOTSTRAP_SERVERS"], mails, webhooks)


def main() -> int:
    smtp_port = os.environ.get("KASKADE_DEMO_SMTP_PORT", "2525")
    # Consumer groups of this run's own: whatever earlier runs left on the broker is not its to read.
    names = own_names(f"demo-{secrets.token_hex(3)}")
    asyncio.run(start_at_end(os.environ["KASKADE_KAFKA_BOOTSTRAP_SERVERS"], names))
    stack = Stack(log_dir=ROOT / ".local/demo-logs", http_port=int(os.environ.get("KASKADE_DEMO_PORT", "8000")),
                  extra_env={"KASKADE_NOTIFICATION_SMTP_HOST": "127.0.0.1", "KASKADE_NOTIFICATION_SMTP_PORT": smtp_port,
                             "KASKADE_NOTIFICATION_WEBHOOK_ALLOW_LOOPBACK": "true", **names})
    print("Starting share-ingest, attribution, reward and notification as four processes ...")
    try:
        stack.start(timeout=90)
        return asyncio.run(run(stack))
    finally:
        stack.stop()
        print(f"\nServices stopped; their JSON logs are in {stack.log_dir}")


if __name__ == "__main__":
    raise SystemExit(main())
