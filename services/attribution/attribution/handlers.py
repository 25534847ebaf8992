"""attribution's subscribers: shares and clicks feed its lookup tables (and release held
conversions); conversions are decided set-wise, one batch per transaction."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg

from attribution import domain, repo
from attribution.domain import Outcome
from kaskade_contracts.envelope import Envelope, decode_envelope, new_envelope
from kaskade_contracts.events import CampaignDefined, ConversionRecorded, CustomerErased, LinkClicked, ShareRecorded
from kaskade_platform.outbox import Outbox
from kaskade_platform.dedupe import first_of_each_new


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Attribution:
    def __init__(self, *, hold_grace_s: float, clock: Callable[[], datetime] = utc_now) -> None:
        self.hold_grace = timedelta(seconds=hold_grace_s)
        self.clock = clock

    async def on_campaigns(self, conn: asyncpg.Connection,
                           facts: list[Envelope[CampaignDefined]]) -> list[Envelope[Any]]:
        await repo.upsert_campaigns(conn, facts)
        return []

    async def on_erasures(self, conn: asyncpg.Connection,
                          facts: list[Envelope[CustomerErased]]) -> list[Envelope[Any]]:
        for e in facts:
            await repo.erase(conn, e.tenant_id, e.payload.customer_id, e.payload.replacement_id)
            await Outbox.forget(conn, e.tenant_id, e.payload.customer_id)
        return []

    async def on_shares(self, conn: asyncpg.Connection, shares: list[Envelope[ShareRecorded]]) -> list[Envelope[Any]]:
        await repo.insert_links(conn, shares)
        held = await repo.take_held(conn, [(e.tenant_id, e.payload.referral_code) for e in shares], [])
        return await self.on_conversions(conn, [decode_envelope(raw) for raw in held])

    async def on_clicks(self, conn: asyncpg.Connection, clicks: list[Envelope[LinkClicked]]) -> list[Envelope[Any]]:
        await repo.insert_clicks(conn, clicks)
        held = await repo.take_held(conn, [], [(e.tenant_id, e.payload.click_id) for e in clicks])
        return await self.on_conversions(conn, [decode_envelope(raw) for raw in held])

    async def on_conversions(self, conn: asyncpg.Connection,
                             convs: list[Envelope[ConversionRecorded]]) -> list[Envelope[Any]]:
        now = self.clock()
        # A batch mixes partitions; deciding in the order things happened lets a referrer's own
        # conversion bind them before their referee's conversion is placed in the cascade.
        # (Across batches the order can still be inverted; see the note on re-parenting in issue 4.)
        convs = sorted(convs, key=lambda e: e.occurred_at)
        decided, held = await self._decide(conn, convs)
        await repo.hold(conn, [(e, now) for e in held])
        return await self._record(conn, decided, now)

    async def sweep_held(self, conn: asyncpg.Connection) -> list[Envelope[Any]]:
        """Retry held conversions, and record as unattributed those held past the grace period.

        The retry closes a race between instances: a share committed by one instance just after
        another instance held a conversion for it, and before that hold was visible.
        """
        now = self.clock()
        stale = await repo.take_stale(conn, now - timedelta(seconds=1))
        held_at = {}
        convs = []
        for raw, at in stale:
            e = decode_envelope(raw)
            held_at[e.event_id] = at
            convs.append(e)
        decided, still_held = await self._decide(conn, convs)
        expired = [e for e in still_held if held_at[e.event_id] < now - self.hold_grace]
        decided += [(e, domain.Decision(Outcome.unattributed, domain.expired(e.payload))) for e in expired]
        await repo.hold(conn, [(e, held_at[e.event_id]) for e in still_held if e not in expired])
        return await self._record(conn, decided, now)

    async def _decide(self, conn: asyncpg.Connection, convs: list[Envelope[ConversionRecorded]]
                      ) -> tuple[list[tuple[Envelope[ConversionRecorded], domain.Decision]],
                                 list[Envelope[ConversionRecorded]]]:
        if not convs:
            return [], []
        clicks = await repo.clicks_by_id(conn, {(e.tenant_id, e.payload.click_id) for e in convs if e.payload.click_id})
        codes: set[tuple[str, str]] = set()
        for e in convs:
            if (click := clicks.get((e.tenant_id, e.payload.click_id))) is not None:
                codes.add((e.tenant_id, click[0]))
            if e.payload.referral_code:
                codes.add((e.tenant_id, e.payload.referral_code))
        links = await repo.links_for_codes(conn, codes)
        windows = await repo.windows_for(conn, {(t, link.campaign_id) for (t, _), link in links.items()})
        people = {(e.tenant_id, e.payload.customer_id) for e in convs}
        people |= {(t, link.sharer_id) for (t, _), link in links.items()}
        bindings = await repo.bindings_for(conn, people)

        def link_of(e: Envelope[ConversionRecorded]) -> tuple[domain.Link | None, bool, bool]:
            """The link a conversion came through, whether through its click, and whether its only
            link is a click too old to count."""
            code_link = links.get((e.tenant_id, e.payload.referral_code)) if e.payload.referral_code else None
            click = clicks.get((e.tenant_id, e.payload.click_id)) if e.payload.click_id else None
            link = links.get((e.tenant_id, click[0])) if click else None
            if link is None:
                return code_link, False, False
            if domain.outside_window(click[1], e.occurred_at, windows.get((e.tenant_id, link.campaign_id), 30)):
                return code_link, False, code_link is None  # a code typed at checkout has no window
            return link, True, False

        decided: list[tuple[Envelope[ConversionRecorded], domain.Decision]] = []
        held: list[Envelope[ConversionRecorded]] = []
        for e in convs:
            link, via_click, too_old = link_of(e)
            d = domain.decide(e.payload, referee_binding=bindings.get((e.tenant_id, e.payload.customer_id)),
                              link=link, outside_window=too_old, via_click=via_click,
                              referrer_binding=bindings.get((e.tenant_id, link.sharer_id)) if link else None)
            if d.outcome is Outcome.held:
                held.append(e)
                continue
            if d.new_binding is not None:
                # Later conversions in this batch must see this referee as bound already.
                bindings[(e.tenant_id, e.payload.customer_id)] = d.new_binding
            decided.append((e, d))
        return decided, held

    async def _record(self, conn: asyncpg.Connection,
                      decided: list[tuple[Envelope[ConversionRecorded], domain.Decision]],
                      now: datetime) -> list[Envelope[Any]]:
        if not decided:
            return []
        fresh = await repo.insert_outcomes(conn, [
            (e.tenant_id, e.payload.conversion_id, d.fact.campaign_id, e.payload.customer_id, d.outcome.value,
             getattr(d.fact, "referrer_id", None), getattr(d.fact, "generation", None),
             getattr(d.fact, "reason", None)) for e, d in decided])
        # A conversion already decided (a replay under a new event id) changes nothing.
        decided = first_of_each_new(decided, lambda ed: (ed[0].tenant_id, ed[0].payload.conversion_id), fresh)
        await repo.insert_bindings(conn, [(e.tenant_id, d.new_binding, now) for e, d in decided if d.new_binding])
        return [new_envelope(d.fact, tenant_id=e.tenant_id, occurred_at=now, causation=e) for e, d in decided]
