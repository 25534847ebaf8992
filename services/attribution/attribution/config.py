"""attribution settings (env prefix KASKADE_ATTRIBUTION_)."""
from pydantic import Field

from kaskade_platform.settings import ServiceSettings, settings_for


class Settings(ServiceSettings):
    model_config = settings_for("KASKADE_ATTRIBUTION_")

    service_name: str = "attribution"
    http_port: int = 8001
    # A backlog is worked off in full batches, each applied while the next is fetched and decoded
    # (kaskade_platform/member.py): batches of 1,000 gave 9,663-10,099 conversions/s against
    # 8,638-9,526 with 500 (two instances, alternating runs, higher in each of four pairs). Live
    # traffic fills batches only as far as one transaction's time allows: end to end at 500
    # purchases/s, the p50 stayed at 151-184 ms.
    consume_max_records: int = 1000
    hold_grace_s: float = Field(default=600.0, description="How long a conversion waits for its click or share "
                                                           "to arrive before it is recorded as unattributed.")
    hold_sweep_interval_s: float = 5.0
    # Ops can split the two consumers over instances, so a catching-up projection never takes
    # CPU from the decisions: DECISIONS=false on analytics instances, ANALYTICS=false on the others.
    decisions: bool = Field(default=True, description="Decide conversions here (consumer group `<service_name>`).")
    analytics: bool = Field(default=True, description="Run the viral-analytics projection here (consumer group "
                                                      "`<service_name>-analytics`).")
    # A read model may lag a little: the projection waits for fuller fetches than the decisions, and
    # so applies fewer, larger batches. End to end, 256 KB or half a second took its batches from
    # about 70 to about 300 events and gave 2,410-2,800 purchases/s against 2,206-2,671 in
    # alternating runs (higher in each of five pairs), for up to half a second more staleness.
    analytics_fetch_min_bytes: int = Field(default=262_144, ge=1, description="The projection's fetches wait for "
                                           "this much, or analytics_fetch_max_wait_ms.")
    analytics_fetch_max_wait_ms: int = Field(default=500, ge=0, le=10_000)
    # End to end, the projection found 69% of its events decoded already at 8192 (RSS +56 MB) and
    # 99% at 16384 (+112 MB); 2,841-3,058 purchases/s against 2,805-2,937 with every copy decoded.
    recent_envelopes: int = Field(
        default=8192, ge=0, description="With both decisions and analytics here, the projection reads the conversions "
                                        "the decisions read and the verdicts they wrote: this many (up to twice as "
                                        "many) are kept decoded for it. 0 decodes every copy.")
    refund_hold_s: float = Field(default=86_400.0, description="How long a refund waits for its conversion's "
                                                               "verdict before it is forgotten.")
