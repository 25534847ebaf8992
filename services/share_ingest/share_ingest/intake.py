"""Intake: commands from product backends become stored facts and outbox events.

One code path for every door: a single HTTP call, the batch endpoint and the inbound topic all
hand a list of commands to `apply`, which answers per command (accepted, duplicate or rejected
with a reason) and never lets one bad command reject its neighbours. Commands are applied
shares → clicks → conversions → refunds, so a batch may refer to what it creates itself.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple

import asyncpg

from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import RecordClick, RecordConversion, RecordRefund, RecordShare, RefundRecorded
from kaskade_platform.dedupe import first_of_each_new
from share_ingest import domain, repo
from share_ingest.config import Settings


class Command(NamedTuple):
    """An intake command as the HTTP door hands it over. It never travels as an event, so it has
    no event id and the facts it makes name no causation; they carry the request's correlation
    id. (Validating an envelope per item of a bulk request cost a tenth of its CPU.)"""
    tenant_id: str
    payload: Any
    occurred_at: datetime
    correlation_id: uuid.UUID
    event_id: None = None


# A command from the inbound topic arrives as an envelope; one from HTTP as a Command.
Incoming = Command | Envelope[Any]


@dataclass(slots=True)
class Outcome:
    status: str  # accepted | duplicate | rejected
    error: str | None = None
    detail: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def _rejected(error: str, detail: str) -> Outcome:
    return Outcome("rejected", error, detail)


async def _store(facts: list[tuple[int, Envelope[Any]]], new: set[Any], id_field: str,
                 outcomes: list[Outcome | None], data: Callable[[Any], dict[str, Any]]) -> list[Envelope[Any]]:
    """Given the keys an insert reported as new, mark each command accepted (first copy of a new
    fact) or duplicate, and return the facts to emit."""
    fresh = first_of_each_new(facts, lambda x: (x[1].tenant_id, getattr(x[1].payload, id_field)), new)
    fresh_idx = {i for i, _ in fresh}
    for i, f in facts:
        outcomes[i] = Outcome("accepted" if i in fresh_idx else "duplicate", data=data(f.payload))
    return [f for _, f in fresh]


class Intake:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.secret = settings.code_secret.get_secret_value().encode()
        self.base_url = settings.public_base_url
        self.clock = clock

    async def apply(self, conn: asyncpg.Connection, commands: Sequence[Incoming]
                    ) -> tuple[list[Envelope[Any]], list[Outcome]]:
        """Apply commands inside the caller's transaction; returns (facts to emit, outcome per command)."""
        outcomes: list[Outcome | None] = [None] * len(commands)
        tenants = await repo.known_tenants(conn, [c.tenant_id for c in commands])
        for i, c in enumerate(commands):
            if c.tenant_id not in tenants:
                outcomes[i] = _rejected("unknown_tenant", f"tenant {c.tenant_id!r} is not registered")
        facts: list[Envelope[Any]] = []
        for kind, step in ((RecordShare, self._shares), (RecordClick, self._clicks),
                           (RecordConversion, self._conversions), (RecordRefund, self._refunds)):
            todo = [(i, c) for i, c in enumerate(commands) if outcomes[i] is None and isinstance(c.payload, kind)]
            if todo:
                facts += await step(conn, todo, outcomes)
        return facts, [o or _rejected("unsupported_command", "not an intake command") for o in outcomes]

    async def _campaigns_usable(self, conn: asyncpg.Connection, todo: list[tuple[int, Incoming]],
                                outcomes: list[Outcome | None]) -> list[tuple[int, Incoming]]:
        statuses = await repo.campaign_statuses(conn, {(c.tenant_id, c.payload.campaign_id) for _, c in todo})
        usable = []
        for i, c in todo:
            status = statuses.get((c.tenant_id, c.payload.campaign_id))
            if status is None:
                outcomes[i] = _rejected("unknown_campaign", f"no campaign {c.payload.campaign_id!r}")
            elif status != "active":
                outcomes[i] = _rejected("campaign_not_active", f"campaign {c.payload.campaign_id!r} is {status}")
            else:
                usable.append((i, c))
        return usable

    async def _profiles(self, conn: asyncpg.Connection, keys: set[tuple[str, str]]
                        ) -> dict[tuple[str, str], domain.Profile]:
        """The profiles backends upserted for these customers, as the facts may carry them."""
        rows = await repo.profiles(conn, keys)
        return {k: domain.profile(self.secret, r["email"], r["segment"]) for k, r in rows.items()}

    async def _shares(self, conn: asyncpg.Connection, todo: list[tuple[int, Incoming]],
                      outcomes: list[Outcome | None]) -> list[Envelope[Any]]:
        todo = await self._campaigns_usable(conn, todo, outcomes)
        profiles = await self._profiles(conn, {(c.tenant_id, c.payload.sharer_id) for _, c in todo})
        facts = [(i, new_envelope(domain.share_recorded(
            c.payload, domain.referral_code(self.secret, c.tenant_id, c.payload.share_id), self.base_url,
            profiles.get((c.tenant_id, c.payload.sharer_id), domain.NO_PROFILE)),
            tenant_id=c.tenant_id, occurred_at=c.occurred_at, causation=c)) for i, c in todo]
        # The code is derived from the share id, so a duplicate gets the same code back.
        return await _store(facts, await repo.insert_shares(conn, [f for _, f in facts]), "share_id", outcomes,
                            lambda p: {"share_id": str(p.share_id), "referral_code": p.referral_code,
                                       "referral_url": p.referral_url})

    async def _clicks(self, conn: asyncpg.Connection, todo: list[tuple[int, Incoming]],
                      outcomes: list[Outcome | None]) -> list[Envelope[Any]]:
        found = await repo.links(conn, {(c.tenant_id, c.payload.referral_code) for _, c in todo})
        facts = []
        for i, c in todo:
            p, link = c.payload, found.get((c.tenant_id, c.payload.referral_code))
            if link is None:
                outcomes[i] = _rejected("unknown_referral_code", f"no referral code {p.referral_code!r}")
            elif domain.is_bot(p.user_agent):
                outcomes[i] = _rejected("not_a_person", "link previews and crawlers are not clicks")
            else:
                fact = domain.link_clicked(p.click_id, p.referral_code, link["campaign_id"], link["sharer_id"],
                                           p.visitor_id, domain.ip_hash(self.secret, p.ip), p.user_agent, p.referer)
                facts.append((i, new_envelope(fact, tenant_id=c.tenant_id, occurred_at=c.occurred_at, causation=c)))
        return await _store(facts, await repo.insert_clicks(conn, [f for _, f in facts]), "click_id", outcomes,
                            lambda p: {"click_id": str(p.click_id)})

    async def _conversions(self, conn: asyncpg.Connection, todo: list[tuple[int, Incoming]],
                           outcomes: list[Outcome | None]) -> list[Envelope[Any]]:
        todo = await self._campaigns_usable(conn, todo, outcomes)
        profiles = await self._profiles(conn, {(c.tenant_id, c.payload.customer_id) for _, c in todo})
        facts = [(i, new_envelope(domain.conversion_recorded(
            c.payload, profiles.get((c.tenant_id, c.payload.customer_id), domain.NO_PROFILE)),
            tenant_id=c.tenant_id, occurred_at=c.occurred_at, causation=c)) for i, c in todo]
        return await _store(facts, await repo.insert_conversions(conn, [f for _, f in facts]), "conversion_id",
                            outcomes, lambda p: {"conversion_id": str(p.conversion_id)})

    async def _refunds(self, conn: asyncpg.Connection, todo: list[tuple[int, Incoming]],
                       outcomes: list[Outcome | None]) -> list[Envelope[Any]]:
        # Lock the conversions first: refunds of them committed meanwhile are then visible below.
        convs = await repo.conversions_for_refund(conn, {(c.tenant_id, c.payload.conversion_id) for _, c in todo})
        seen = await repo.existing_refunds(conn, {(c.tenant_id, c.payload.refund_id) for _, c in todo})
        refunded = {k: r["refunded"] for k, r in convs.items()}
        facts, in_batch = [], set()
        for i, c in todo:
            p, key = c.payload, (c.tenant_id, c.payload.conversion_id)
            if (c.tenant_id, p.refund_id) in seen or (c.tenant_id, p.refund_id) in in_batch:
                outcomes[i] = Outcome("duplicate", data={"refund_id": str(p.refund_id)})
                continue
            conv = convs.get(key)
            if conv is None:
                outcomes[i] = _rejected("unknown_conversion", f"no conversion {p.conversion_id}")
                continue
            left = conv["amount_minor"] - refunded[key]
            if p.amount_minor > left:
                outcomes[i] = _rejected("refund_exceeds_conversion",
                                        f"{p.amount_minor} refunded, {left} of {conv['amount_minor']} left")
                continue
            refunded[key] += p.amount_minor
            in_batch.add((c.tenant_id, p.refund_id))
            fact = RefundRecorded(**p.model_dump(), campaign_id=conv["campaign_id"], customer_id=conv["customer_id"],
                                  currency=conv["currency"], refunded_total_minor=refunded[key],
                                  full=refunded[key] == conv["amount_minor"])
            facts.append(new_envelope(fact, tenant_id=c.tenant_id, occurred_at=c.occurred_at, causation=c))
            outcomes[i] = Outcome("accepted", data={"refund_id": str(p.refund_id),
                                                    "refunded_total_minor": refunded[key], "full": fact.full})
        await repo.insert_refunds(conn, facts)
        return facts
