"""What the demo prints once its scenario has gone through: the events on the topics, what the mail
server and the webhook endpoint received, and what each service's tenant API answers."""
from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from kaskade_devtools.sinks import MailSink, WebhookSink
from kaskade_devtools.stack import Stack
from kaskade_devtools.testing import TopicWatcher


def _eur(minor: int) -> str:
    return f"{minor / 100:>7.2f}"


def attributions(w: TopicWatcher) -> None:
    print("\nAttribution (kaskade.attributions.v1):")
    for e in w.events():
        p = e.payload
        if e.event_type == "ConversionAttributed":
            print(f"  {p.referee_id:<6} <- {p.referrer_id:<6} generation {p.generation}, root {p.root_seeder_id}, "
                  f"via {p.path.value}{', upline ' + ' > '.join(p.upline) if p.upline else ''}")
        elif e.event_type == "AttributionRejected":
            print(f"  {p.referee_id:<6} rejected: {p.reason.value} ({p.detail or 'referrer ' + p.referrer_id})")
        elif e.event_type == "ConversionUnattributed":
            print(f"  {p.customer_id:<6} unattributed: {p.reason}")
        elif e.event_type == "AttributionReversed":
            print(f"  {p.referee_id:<6} reversed: {p.kind.value} of {_eur(p.amount_minor).strip()} EUR "
                  f"({'full' if p.full else 'partial'}), referrer {p.referrer_id}")


def rewards(w: TopicWatcher) -> None:
    print("\nRewards (public topic kaskade.rewards.v1):")
    for e in w.events():
        p = e.payload
        if e.event_type == "RewardGranted":
            code = f" code {p.discount_code}" if p.discount_code else ""
            print(f"  granted   {p.recipient_id:<6} {_eur(p.amount_minor)} {p.currency} {p.kind.value:<14} "
                  f"{p.role.value:<8} rule {p.rule_id} ({p.status}){code}")
        elif e.event_type == "RewardRevoked":
            print(f"  revoked   {p.recipient_id:<6} {_eur(p.amount_minor)} {p.currency} ({p.reason}; "
                  f"{_eur(p.remaining_minor).strip()} left)")
        elif e.event_type in ("RewardDeclined", "CampaignBudgetWarning", "CampaignBudgetExhausted"):
            print(f"  {e.event_type}: {p.model_dump(exclude={'idempotency_key'})}")


async def sent(mails: MailSink, webhooks: WebhookSink) -> None:
    # notification delivers from its database, a moment after each reward (emails a little later
    # than webhooks: they are planned per recipient first): wait until both have come and it is quiet
    seen, quiet = -1, 0
    for _ in range(300):
        now = len(mails.mails) + len(webhooks.deliveries)
        quiet = quiet + 1 if now == seen else 0
        if quiet >= 20 and mails.mails and webhooks.deliveries:
            break
        seen = now
        await asyncio.sleep(0.1)
    print(f"\nEmails received by the local mail server ({len(mails.mails)}):")
    for m in mails.mails:
        print(f"  to {m.to:<18} [{m.language}] {m.subject}  (one-click unsubscribe: {bool(m.unsubscribe)})")
    print(f"\nWebhooks received by the tenant's endpoint ({len(webhooks.deliveries)}):")
    for d in webhooks.deliveries:
        data = d.body.get("data", {})
        print(f"  {d.event_type:<15} {d.webhook_id}  signature {'valid' if d.verified else 'INVALID'}  "
              f"{data.get('recipient_id', '')} {data.get('amount_minor', '')}")


async def apis(stack: Stack, auth: dict[str, str]) -> None:
    async with httpx.AsyncClient(headers=auth, timeout=10) as c:
        attribution, reward, notification = (stack.url(s) for s in ("attribution", "reward", "notification"))
        tree = (await c.get(f"{attribution}/v1/customers/anna/cascade")).json()
        print("\nanna's cascade (attribution API, GET /v1/customers/anna/cascade):")
        for n in tree.get("nodes", []):
            print(f"  {'  ' * n['depth']}{n['referee_id']} (generation {n['generation']}, referred by {n['referrer_id']})")
        funnel = (await c.get(f"{attribution}/v1/analytics/campaigns/default/funnel", params={"by": "channel"})).json()
        print("\nFunnel by channel (attribution analytics API):")
        for row in funnel.get("rows", []):
            print(f"  {str(row['key']):<9} {row['shares']} shares -> {row['clicks']} clicks -> "
                  f"{row['signups']} signups, {row['purchases']} purchases")
        k = (await c.get(f"{attribution}/v1/analytics/campaigns/default/k-factor")).json()
        for row in k.get("rows", []):
            k_value = "-" if row["k"] is None else f"{row['k']:.2f}"
            print(f"  K-factor, generation {row['key']}: {k_value}  ({row['invites']} invites by "
                  f"{row['customers']} customers won {row['won']})")
        balances = (await c.get(f"{reward}/v1/customers/anna/balances")).json()
        print("\nanna's balances (reward API): " + ", ".join(
            f"{b['currency']} pending {_eur(b['pending_minor']).strip()}, confirmed {_eur(b['confirmed_minor']).strip()}"
            for b in balances.get("balances", [])))
        for b in (await c.get(f"{reward}/v1/campaigns/default/budget")).json().get("budgets", []):
            print(f"Campaign budget (reward API): {_eur(b['budget_minor']).strip()} {b['currency']}, granted "
                  f"{_eur(b['granted_minor']).strip()}, revoked {_eur(b['revoked_minor']).strip()}, remaining "
                  f"{_eur(b['remaining_minor']).strip()}")
        feed = (await c.get(f"{notification}/v1/customers/anna/notifications")).json()
        print("anna's in-app feed (notification API): " + ", ".join(i["type"] for i in feed.get("items", [])))


async def report(tenant: str, w: TopicWatcher, stack: Stack, auth: dict[str, str], mails: MailSink,
                 webhooks: WebhookSink) -> None:
    attributions(w)
    rewards(w)
    kinds: Counter[str] = Counter(e.event_type for e in w.events())
    await sent(mails, webhooks)
    await apis(stack, auth)
    print(f"\nSummary for {tenant}: {kinds['ConversionAttributed']} attributed, {kinds['AttributionRejected']} "
          f"rejected, {kinds['ConversionUnattributed']} unattributed, {kinds['AttributionReversed']} reversed -> "
          f"{kinds['RewardGranted']} rewards granted, {kinds['RewardRevoked']} revoked; "
          f"{len(mails.mails)} emails, {len(webhooks.deliveries)} webhooks")

