"""attribution's subscribers: shares and clicks feed its lookup tables (and release held
conversions); conversions are decided set-wise, one batch per transaction; refunds of attributed
conversions are reversed."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg

from attribution import domain, repo, repo_cascade, repo_refunds
from attribution.domain import Binding, Outcome
from attribution.evidence import Decided, Held, decide_batch
from attribution.reversal import Attributed, reversal
from kaskade_contracts.envelope import Envelope, decode_envelope, new_envelope
from kaskade_contracts.events import (AttributionRejected, CampaignDefined, ConversionAttributed, ConversionRecorded, CustomerErased,
                                      LinkClicked, RefundRecorded, ShareRecorded)
from kaskade_platform.dedupe import first_of_each_new
from kaskade_platform.outbox import Outbox


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Attribution:
    def __init__(self, *, hold_grace_s: float, refund_hold_s: float = 86_400.0,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.hold_grace = timedelta(seconds=hold_grace_s)
        self.refund_hold = timedelta(seconds=max(refund_hold_s, hold_grace_s))
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
        released = await repo.take_held(conn, codes=[(e.tenant_id, e.payload.referral_code) for e in shares])
        return await self._settle(conn, await self._with_queues(conn, released))

    async def on_clicks(self, conn: asyncpg.Connection, clicks: list[Envelope[LinkClicked]]) -> list[Envelope[Any]]:
        await repo.insert_clicks(conn, clicks)
        released = await repo.take_held(conn, clicks=[(e.tenant_id, e.payload.click_id) for e in clicks])
        return await self._settle(conn, await self._with_queues(conn, released))

    async def on_conversions(self, conn: asyncpg.Connection,
                             convs: list[Envelope[ConversionRecorded]]) -> list[Envelope[Any]]:
        return await self._settle(conn, [(e, None) for e in convs])

    async def _settle(self, conn: asyncpg.Connection,
                      convs: list[tuple[Envelope[ConversionRecorded], datetime | None]] | list[tuple[bytes, datetime]]
                      ) -> list[Envelope[Any]]:
        """Decide conversions (new ones, or held ones with the time they were first held); hold
        what must wait; then release what was queued behind the customers just decided."""
        now = self.clock()
        emitted: list[Envelope[Any]] = []
        since: dict[Any, datetime] = {}
        while convs:
            batch = []
            for item, at in convs:
                e = decode_envelope(item) if isinstance(item, bytes) else item
                if at is not None:
                    since[e.event_id] = at
                batch.append(e)
            decided, held, queued = await decide_batch(conn, batch)
            await repo.hold(conn, [(h.envelope, since.get(h.envelope.event_id, now), h.waiting_for_code)
                                   for h in held])
            emitted += await self._record(conn, decided, now)
            convs = await self._release_queued(conn, decided, held, queued)
        return emitted

    async def _with_queues(self, conn: asyncpg.Connection, released: list[tuple[bytes, datetime]]
                           ) -> list[tuple[bytes, datetime]]:
        """A released conversion comes with the later conversions of its customer queued behind it,
        so that they are decided together, in order."""
        if not released:
            return released
        customers = set()
        for raw, _ in released:
            e = decode_envelope(raw)
            customers.add((e.tenant_id, e.payload.customer_id))
        return released + await repo.take_held(conn, customers=customers)

    async def _release_queued(self, conn: asyncpg.Connection, decided: list[Decided], held: list[Held],
                              queued: set[tuple[str, str]]) -> list[tuple[bytes, datetime]]:
        """A customer's conversions held behind one just decided can go now, unless another of
        theirs is still waiting."""
        queued = queued | {(h.envelope.tenant_id, h.envelope.payload.customer_id) for h in held if h.queued}
        free = ({(x.envelope.tenant_id, x.envelope.payload.customer_id) for x in decided} & queued) - {
            (h.envelope.tenant_id, h.envelope.payload.customer_id) for h in held if not h.queued}
        return await repo.take_held(conn, customers=free) if free else []

    async def on_refunds(self, conn: asyncpg.Connection,
                         refunds: list[Envelope[RefundRecorded]]) -> list[Envelope[Any]]:
        """Reverse refunds of attributed conversions; a refund of a conversion not decided yet
        (held for its click) waits for the verdict."""
        outcomes = await repo_cascade.outcomes_for(conn, {(e.tenant_id, e.payload.conversion_id) for e in refunds})
        waiting = [e for e in refunds if (e.tenant_id, e.payload.conversion_id) not in outcomes]
        await repo_refunds.hold_refunds(conn, waiting, self.clock())
        return await self._reverse(conn, refunds, outcomes)

    async def sweep_held(self, conn: asyncpg.Connection) -> list[Envelope[Any]]:
        """Retry held conversions, and record as unattributed those held past the grace period.

        The retry closes a race between instances: a share committed by one instance just after
        another instance held a conversion for it, and before that hold was visible.
        """
        now = self.clock()
        await repo_refunds.drop_stale_refunds(conn, now - self.refund_hold)
        held_at, convs = {}, []
        for raw, at in await repo.take_stale(conn, now - timedelta(seconds=1)):
            e = decode_envelope(raw)
            held_at[e.event_id] = at
            convs.append(e)
        decided, still_held, queued = await decide_batch(conn, convs)
        # Only a conversion waiting for its own link expires; one queued behind it goes after it.
        expired = {h.envelope.event_id for h in still_held
                   if not h.queued and held_at[h.envelope.event_id] < now - self.hold_grace}
        decided += [Decided(h.envelope, domain.Decision(Outcome.unattributed, domain.expired(h.envelope.payload)))
                    for h in still_held if h.envelope.event_id in expired]
        still_held = [h for h in still_held if h.envelope.event_id not in expired]
        await repo.hold(conn, [(h.envelope, held_at[h.envelope.event_id], h.waiting_for_code) for h in still_held])
        emitted = await self._record(conn, decided, now)
        return emitted + await self._settle(conn, await self._release_queued(conn, decided, still_held, queued))

    async def _record(self, conn: asyncpg.Connection, decided: list[Decided], now: datetime) -> list[Envelope[Any]]:
        if not decided:
            return []
        facts = [(x.envelope, x.decision.fact) for x in decided]
        bound = [(x.envelope.tenant_id, x.decision.new_binding) for x in decided if x.decision.new_binding]
        done = await repo_cascade.record(
            conn, now,
            outcomes=[(e.tenant_id, e.payload.conversion_id, f.campaign_id, e.payload.customer_id,  # type: ignore
                       x.decision.outcome.value, *_verdict_columns(f), e.payload.amount_minor, e.payload.currency,
                       e.payload.order_id)
                      for x, (e, f) in zip(decided, facts)],
            bindings=bound,  # type: ignore[arg-type]
            devices=[(e.tenant_id, e.payload.conversion_id, e.payload.customer_id, *x.device)
                     for x, (e, _) in zip(decided, facts) if x.device],
            rejections=[(e.tenant_id, f.conversion_id, f.campaign_id, f.referee_id, f.referrer_id, f.reason.value,
                         f.detail) for e, f in facts if isinstance(f, AttributionRejected)])
        new_referees = {(t, b.referee_id) for t, b in bound}  # type: ignore[union-attr]
        moved: dict[tuple[str, str], repo_cascade.Moved] = {}
        if done.seeders_with_trees or any((t, b.root_seeder_id) in new_referees for t, b in bound):  # type: ignore
            moved = await repo_cascade.reparent(conn, sorted(new_referees))
        # A conversion already decided (a replay under a new event id) changes nothing.
        judged = decided
        if done.fresh is not None:
            decided = first_of_each_new(decided, lambda x: (x.envelope.tenant_id, x.envelope.payload.conversion_id),
                                        done.fresh)
        # A verdict is dated by the purchase it is about: reward's holding period runs from there.
        emitted = [new_envelope(x.decision.fact, tenant_id=x.envelope.tenant_id, occurred_at=x.envelope.occurred_at,
                                causation=x.envelope) for x in decided]
        # After the verdicts on the same (campaign-keyed) partitions: what they said about a moved
        # referee's place is superseded by this.
        if moved:
            emitted += _corrections(judged, bound, moved, now)  # type: ignore[arg-type]
        # Refunds that arrived while these conversions were held get their verdict now.
        if done.refunds:
            sales = {(x.envelope.tenant_id, x.envelope.payload.conversion_id): _sale(x.decision.fact)
                     for x in decided}
            emitted += await self._reverse(conn, [decode_envelope(raw) for raw in done.refunds], sales)
        return emitted

    async def _reverse(self, conn: asyncpg.Connection, refunds: list[Envelope[RefundRecorded]],
                       sales: dict[tuple[str, Any], Attributed | None]) -> list[Envelope[Any]]:
        """Reverse each refund of an attributed conversion once; refunds of anything else are dropped."""
        now = self.clock()
        due = [(e, sale) for e in refunds if (sale := sales.get((e.tenant_id, e.payload.conversion_id)))]
        fresh = await repo_refunds.insert_reversals(conn, [
            (e.tenant_id, e.payload.refund_id, e.payload.conversion_id, e.payload.amount_minor, now) for e, _ in due])
        due = first_of_each_new(due, lambda es: (es[0].tenant_id, es[0].payload.refund_id), fresh)
        return [new_envelope(reversal(e.payload, sale), tenant_id=e.tenant_id, occurred_at=e.occurred_at, causation=e)
                for e, sale in due]


def _corrections(decided: list[Decided], bound: list[tuple[str, Binding]],
                 moved: dict[tuple[str, str], repo_cascade.Moved], now: datetime) -> list[Envelope[Any]]:
    """ReferralReparented for each binding that moved, and for the seeders referred now: their own
    referrals had named them the root. A correction is dated by the referral that caused it (the
    latest, when several did): a reader can tell a purchase made before that link existed from one
    that came after it."""
    referred_at = {(x.envelope.tenant_id, x.decision.new_binding.referee_id): x.envelope.occurred_at
                   for x in decided if x.decision.new_binding}
    above = {(m.tenant_id, who) for m in moved.values() for who in m.binding.upline}
    return [new_envelope(domain.reparented(m.binding), tenant_id=m.tenant_id,
                         occurred_at=max((referred_at.get((m.tenant_id, s), now) for s in m.under),
                                         default=referred_at.get((m.tenant_id, m.binding.referee_id), now)))
            for m in [repo_cascade.Moved(t, b) for t, b in bound if (t, b.referee_id) in above] + list(moved.values())]


def _verdict_columns(fact: Any) -> tuple[str | None, int | None, str | None]:
    """(referrer, generation, reason) of a verdict. Asked by type: a field a pydantic model lacks
    costs a raised and caught AttributeError, once per conversion."""
    if isinstance(fact, ConversionAttributed):
        return fact.referrer_id, fact.generation, None
    if isinstance(fact, AttributionRejected):
        return fact.referrer_id, None, fact.reason
    return None, None, fact.reason


def _sale(fact: Any) -> Attributed | None:
    if isinstance(fact, ConversionAttributed):
        return Attributed(fact.campaign_id, fact.referee_id, fact.referrer_id, fact.amount_minor, fact.currency)
    return None
