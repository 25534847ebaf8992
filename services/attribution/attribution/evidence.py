"""A batch of conversions judged together: everything the rules need is looked up set-wise (one
query per concern), then each conversion is decided in the order they happened, seeing what the
conversions before it in the batch decided (bindings, devices, order ids)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg

from attribution import domain, repo, repo_cascade, repo_signals
from attribution.domain import Binding, Link, Outcome, Terms
from attribution.fraud import Click, Signals
from kaskade_contracts.envelope import Envelope
from kaskade_contracts.events import AttributionModel, ConversionRecorded

Key = tuple[str, str]


@dataclass(slots=True)
class Decided:
    envelope: Envelope[ConversionRecorded]
    decision: domain.Decision
    device: tuple[str, str] | None = None  # (visitor id, ip hash) of the conversion's own click


@dataclass(slots=True)
class Held:
    envelope: Envelope[ConversionRecorded]
    waiting_for_code: str | None = None  # its click is known, the click's share is not
    queued: bool = False  # decidable, but behind an earlier held conversion of the same customer


@dataclass(slots=True)
class Route:
    """How one conversion reaches a referrer, before the fraud rules look at it."""
    link: Link | None = None
    click: Click | None = None
    via_click: bool = False
    too_old: bool = False
    waiting_for_code: str | None = None  # its click is known, the click's share is not
    own_click: Click | None = None


@dataclass(slots=True)
class Lookups:
    clicks: dict[tuple[str, uuid.UUID], Click] = field(default_factory=dict)
    links: dict[Key, Link] = field(default_factory=dict)
    bindings: dict[Key, Binding] = field(default_factory=dict)
    terms: dict[Key, Terms] = field(default_factory=dict)
    first: dict[uuid.UUID, Click] = field(default_factory=dict)  # event id -> the visitor's first click

    def terms_of(self, tenant_id: str, campaign_id: str) -> Terms:
        return self.terms.get((tenant_id, campaign_id), domain.DEFAULT_TERMS)

    def route(self, e: Envelope[ConversionRecorded]) -> Route:
        t, p = e.tenant_id, e.payload
        code_link = self.links.get((t, p.referral_code)) if p.referral_code else None
        own = self.clicks.get((t, p.click_id)) if p.click_id else None
        if own is None:
            return Route(code_link)
        own_link = self.links.get((t, own.referral_code))
        if own_link is None:
            return Route(code_link, waiting_for_code=own.referral_code, own_click=own)
        terms = self.terms_of(t, own_link.campaign_id)
        if domain.outside_window(own.clicked_at, e.occurred_at, terms.window_days):
            # A code typed at checkout has no window.
            return Route(code_link, too_old=code_link is None, own_click=own)
        chosen = domain.choose_click(terms.model, own, self.first.get(e.event_id) if self.first else None)
        chosen_link = self.links.get((t, chosen.referral_code))
        if chosen_link is None:
            chosen, chosen_link = own, own_link
        return Route(chosen_link, chosen, True, own_click=own)


async def look_up(conn: asyncpg.Connection, convs: list[Envelope[ConversionRecorded]]) -> Lookups:
    k = Lookups()
    k.clicks = await repo.clicks_by_id(conn, {(e.tenant_id, e.payload.click_id) for e in convs if e.payload.click_id})
    codes = {(t, c.referral_code) for (t, _), c in k.clicks.items()}
    codes |= {(e.tenant_id, e.payload.referral_code) for e in convs if e.payload.referral_code}
    k.links = await repo.links_for_codes(conn, codes)
    people = {(e.tenant_id, e.payload.customer_id) for e in convs} | {(t, l.sharer_id) for (t, _), l in k.links.items()}
    k.bindings = await repo_cascade.bindings_for(conn, people)
    campaigns = {(t, l.campaign_id) for (t, _), l in k.links.items()} | {(t, b.campaign_id) for (t, _), b in
                                                                         k.bindings.items()}
    k.terms = await repo.terms_for(conn, campaigns)
    await _first_clicks(conn, k, convs)
    return k


async def _first_clicks(conn: asyncpg.Connection, k: Lookups, convs: list[Envelope[ConversionRecorded]]) -> None:
    """Under first click, the referral goes to the visitor's earliest click of the campaign within
    the window; only first-time referrals (unbound customers) need it."""
    if domain.DEFAULT_TERMS.model is not AttributionModel.first_click and all(
            t.model is not AttributionModel.first_click for t in k.terms.values()):
        return  # every campaign in the batch credits the last click: routing each conversion twice buys nothing
    wanted = []
    for e in convs:
        r = k.route(e)
        if (r.via_click and r.link is not None and (e.tenant_id, e.payload.customer_id) not in k.bindings
                and k.terms_of(e.tenant_id, r.link.campaign_id).model is AttributionModel.first_click):
            window = timedelta(days=k.terms_of(e.tenant_id, r.link.campaign_id).window_days)
            wanted.append((e, (e.tenant_id, r.click.visitor_id, r.link.campaign_id,  # type: ignore[union-attr]
                               e.occurred_at - window, e.occurred_at)))
    if not wanted:
        return
    found = await repo_signals.first_clicks(conn, [key for _, key in wanted])
    k.first = {e.event_id: c for (e, _), c in zip(wanted, found) if c is not None}
    more = {(e.tenant_id, c.referral_code) for (e, _), c in zip(wanted, found) if c is not None}
    more -= set(k.links)
    if more:
        k.links.update(await repo.links_for_codes(conn, more))
        sharers = {(t, l.sharer_id) for (t, _), l in k.links.items()} - set(k.bindings)
        k.bindings.update(await repo_cascade.bindings_for(conn, sharers))


def _probe(e: Envelope[ConversionRecorded], r: Route, k: Lookups, bound: bool) -> repo_signals.Probe:
    t, p = e.tenant_id, e.payload
    if bound or r.link is None:
        return repo_signals.Probe(t, p.customer_id, p.order_id)
    if r.click is None:
        return repo_signals.Probe(t, p.customer_id, p.order_id, r.link.sharer_id)
    rules = k.terms_of(t, r.link.campaign_id).fraud
    return repo_signals.Probe(t, p.customer_id, p.order_id, r.link.sharer_id, r.click.visitor_id, r.click.ip_hash,
                              e.occurred_at, rules.flood_window_seconds, rules.max_clicks_per_visitor + 1,
                              rules.max_clicks_per_ip + 1)


async def decide_batch(conn: asyncpg.Connection, convs: list[Envelope[ConversionRecorded]]
                       ) -> tuple[list[Decided], list[Held], set[Key]]:
    """Decide what can be decided, in the order the conversions happened; return the rest to hold,
    and the customers who still have conversions held from before (queued behind one another)."""
    if not convs:
        return [], [], set()
    # A batch mixes partitions, and held conversions taken together share a held_at: deciding in the
    # order things happened lets a referrer's own conversion bind them before their referee's is
    # placed in the cascade, and keeps a customer's later purchase behind the one it queued behind.
    # (Across batches the order can be inverted; re-parenting then fixes the cascade.)
    convs = sorted(convs, key=lambda e: e.occurred_at)
    k = await look_up(conn, convs)
    routes = [k.route(e) for e in convs]  # aligned with convs: no hashing of event ids
    answers = await repo_signals.probe(conn, [
        _probe(e, r, k, (e.tenant_id, e.payload.customer_id) in k.bindings) for e, r in zip(convs, routes)])
    queued = {(e.tenant_id, e.payload.customer_id) for e, a in zip(convs, answers) if a.customer_held}
    waiting = set(queued)
    orders: dict[Key, uuid.UUID] = {}  # order ids attributed earlier in this batch
    devices: dict[Key, set[tuple[str, str]]] = {}  # devices customers converted from earlier in this batch
    decided: list[Decided] = []
    held: list[Held] = []
    for e, a, r in zip(convs, answers, routes):
        t, p = e.tenant_id, e.payload
        if (t, p.customer_id) in waiting:
            held.append(Held(e, r.waiting_for_code, queued=True))
            continue
        referee = k.bindings.get((t, p.customer_id))
        campaign = referee.campaign_id if referee else r.link.campaign_id if r.link else p.campaign_id
        mine = devices.get((t, r.link.sharer_id)) if r.link and r.click else None
        signals = Signals(
            referrer_visitor=a.referrer_visitor or mine is not None and any(
                v == r.click.visitor_id for v, _ in mine),  # type: ignore[union-attr]
            referrer_ip=a.referrer_ip or mine is not None and any(
                ip == r.click.ip_hash for _, ip in mine),  # type: ignore[union-attr]
            clicks_by_visitor=a.clicks_by_visitor, clicks_by_ip=a.clicks_by_ip,
            order_attributed_to=orders.get((t, p.order_id), a.order_attributed_to) if p.order_id else None)
        d = domain.decide(p, referee_binding=referee, link=r.link, outside_window=r.too_old, via_click=r.via_click,
                          referrer_binding=k.bindings.get((t, r.link.sharer_id)) if r.link else None,
                          click=r.click, converted_at=e.occurred_at, terms=k.terms_of(t, campaign), signals=signals)
        if d.outcome is Outcome.held:
            held.append(Held(e, r.waiting_for_code))
            waiting.add((t, p.customer_id))
            continue
        # Later conversions in this batch see what this one changed.
        if d.new_binding is not None:
            k.bindings[(t, p.customer_id)] = d.new_binding
        if d.outcome is Outcome.attributed and p.order_id and a.order_attributed_to is None:
            orders.setdefault((t, p.order_id), p.conversion_id)
        own = r.own_click
        if own is not None:
            devices.setdefault((t, p.customer_id), set()).add((own.visitor_id, own.ip_hash))
        decided.append(Decided(e, d, (own.visitor_id, own.ip_hash) if own else None))
    return decided, held, queued
