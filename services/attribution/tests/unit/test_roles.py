"""Which consumers an attribution process runs: decisions, the analytics projection, or both."""
from __future__ import annotations

import pytest

from attribution.app import build
from attribution.config import Settings

DSN = "postgresql://attribution@127.0.0.1:1/kaskade"  # never connected to: build() only wires


@pytest.mark.parametrize("decisions, analytics, groups", [
    (True, True, ["attribution", "attribution-analytics"]),
    (True, False, ["attribution"]),
    (False, True, ["attribution-analytics"]),
])
def test_decisions_and_the_projection_can_run_in_separate_processes(decisions: bool, analytics: bool,
                                                                     groups: list[str]) -> None:
    runtime = build(Settings(database_url=DSN, service_name="attribution", decisions=decisions, analytics=analytics))
    assert [c.group_id for c in runtime.consumers] == groups
    # The hold sweep belongs to the decisions: an analytics-only process must not decide anything.
    assert len(runtime.periodic_jobs) == (1 if decisions else 0)


def test_the_projections_group_follows_the_service_name() -> None:
    runtime = build(Settings(database_url=DSN, service_name="attribution-eu", decisions=False))
    assert [c.group_id for c in runtime.consumers] == ["attribution-eu-analytics"]
