"""Budget control: a warning at 80% and at 95% committed, and one CampaignBudgetExhausted when the
budget turns a reward away, each once per budget level; raising the budget re-arms them."""
from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration


def alerts(kit: Any) -> list[tuple[str, int | None, int, int]]:
    return [(e.event_type, getattr(e.payload, "threshold_percent", None), e.payload.budget_minor,
             e.payload.committed_minor) for e in kit.out.events()
            if e.event_type in ("CampaignBudgetWarning", "CampaignBudgetExhausted")]


async def grant(kit: Any, n: int, *, granted: int, declined: int = 0) -> None:
    """Send n purchases and wait until the totals of verdicts so far are reached."""
    await kit.send(*(kit.attributed(f"friend-{i}", campaign="spring") for i in range(n)))
    await kit.verdicts(granted, "RewardGranted")
    if declined:
        await kit.verdicts(declined, "RewardDeclined")


async def test_warnings_and_exhaustion_are_published_once_per_budget_level(kit: Any) -> None:
    await kit.define(kit.campaign(1, referrer=450, budget_minor=1000))
    await grant(kit, 1, granted=1)  # 45 %
    assert alerts(kit) == []
    await grant(kit, 1, granted=2)  # 90 %: past 80
    await kit.verdicts(1, "CampaignBudgetWarning")

    await kit.define(kit.campaign(2, referrer=50, budget_minor=1000))  # same budget, smaller rewards
    await grant(kit, 1, granted=3)  # 95 %
    await grant(kit, 1, granted=4)  # 100 %
    await grant(kit, 2, granted=4, declined=2)  # nothing left: declined twice, exhausted once
    await kit.verdicts(1, "CampaignBudgetExhausted")
    assert alerts(kit) == [("CampaignBudgetWarning", 80, 1000, 900), ("CampaignBudgetWarning", 95, 1000, 950),
                           ("CampaignBudgetExhausted", None, 1000, 1000)]

    await kit.define(kit.campaign(3, referrer=1000, budget_minor=2000))  # a new level: 50 % committed
    await grant(kit, 2, granted=5, declined=3)
    await kit.verdicts(2, "CampaignBudgetExhausted")
    assert alerts(kit)[3:] == [("CampaignBudgetWarning", 80, 2000, 2000), ("CampaignBudgetWarning", 95, 2000, 2000),
                               ("CampaignBudgetExhausted", None, 2000, 2000)]
    assert {e.payload.currency for e in kit.out.events("CampaignBudgetWarning")} == {"EUR"}


async def test_pausing_stops_new_rewards_at_once(kit: Any) -> None:
    await kit.define(kit.campaign(1, referrer=100, budget_minor=1000))
    await grant(kit, 1, granted=1)
    await kit.define(kit.campaign(2, status="paused", referrer=100, budget_minor=1000))
    await grant(kit, 3, granted=1, declined=3)

    assert {e.payload.reason for e in kit.out.events("RewardDeclined")} == {"campaign_not_active"}
    assert (await kit.budget())["balance"] == 900
    assert alerts(kit) == []  # a paused campaign's budget is not exhausted
