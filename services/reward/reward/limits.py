"""Limits on what is granted besides the budget: per-referrer caps, the share cap, and the budget
thresholds that raise alerts. Pure; what was granted before is passed in."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from kaskade_contracts.events import RewardRole
from reward.domain import Campaign, Candidate

WARNING_PERCENTS = (80, 95)
HistoryKey = tuple[str, str, str, str]  # tenant, campaign, rule, recipient


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `max_count` rewards and `max_amount` in total within any `period` ending at a reward."""
    rule_id: str
    period: timedelta
    max_count: int | None = None
    max_amount: int | None = None
    reason: str = "referrer_cap"


def limit_for(campaign: Campaign, c: Candidate) -> Limit | None:
    if c.role is RewardRole.referrer and c.rule.rule_id == "referrer" and campaign.referrer_cap is not None:
        cap = campaign.referrer_cap
        return Limit("referrer", timedelta(days=cap.period_days), cap.max_rewards, cap.max_amount_minor)
    if c.role is RewardRole.sharer and campaign.share is not None:
        return Limit("share", timedelta(days=campaign.share.period_days), campaign.share.max_per_period,
                     reason="share_cap")
    return None


def history_key(c: Candidate) -> HistoryKey:
    return (c.tenant_id, c.campaign_id, c.rule.rule_id, c.recipient_id)


def apply_limits(cands: list[tuple[Candidate, Limit | None]],
                 history: dict[HistoryKey, list[tuple[datetime, int]]]) -> tuple[list[Candidate],
                                                                                  list[tuple[Candidate, str]]]:
    """Keep candidates, in order, while each recipient's window has room; returns (kept, [(capped,
    reason)]). `history` holds (earned_at, amount) of what was granted before; kept candidates are
    added to it, so the next one in the batch sees them. (The budget may still decline a kept one:
    then the cap was charged for nothing, which only ever errs on the side of paying less.)"""
    kept, capped = [], []
    seen: dict[HistoryKey, list[tuple[datetime, int]]] = defaultdict(list, {k: list(v) for k, v in history.items()})
    for c, limit in cands:
        if limit is None:
            kept.append(c)
            continue
        past = [(at, amount) for at, amount in seen[history_key(c)] if c.earned_at - limit.period < at <= c.earned_at]
        if ((limit.max_count is not None and len(past) + 1 > limit.max_count) or
                (limit.max_amount is not None and sum(a for _, a in past) + c.amount_minor > limit.max_amount)):
            capped.append((c, limit.reason))
            continue
        seen[history_key(c)].append((c.earned_at, c.amount_minor))
        kept.append(c)
    return kept, capped


def warnings_reached(funded_minor: int, committed_minor: int) -> list[int]:
    """Thresholds reached; the caller publishes each once per budget level."""
    if funded_minor <= 0:
        return []
    return [p for p in WARNING_PERCENTS if committed_minor * 100 >= p * funded_minor]
