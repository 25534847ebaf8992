"""share-ingest settings (env prefix KASKADE_SHARE_INGEST_)."""
from pydantic import Field, SecretStr

from kaskade_platform.settings import ServiceSettings, settings_for


class Settings(ServiceSettings):
    model_config = settings_for("KASKADE_SHARE_INGEST_")

    service_name: str = "share-ingest"
    public_base_url: str = Field(default="http://127.0.0.1:8000",
                                 description="Base of the referral URLs handed out, e.g. https://go.example.com")
    default_landing_url: str = Field(default="https://shop.example.com/",
                                     description="Landing page of each tenant's default campaign.")
    code_secret: SecretStr = Field(default=SecretStr("dev-only-referral-code-secret"),
                                   description="Key for referral codes and IP hashes; set a real one in production.")
    # Python's own: a young generation of 50,000 objects took milliseconds to collect, and with the
    # redirect's allocations that landed on every few hundred visits (p99 at 3,000/s: 24-35 ms, against
    # 19-26 ms on these).
    gc_thresholds: tuple[int, int, int] = (700, 10, 10)
    click_dedup_window_s: int = 1800
    click_writers: int = Field(default=3, ge=1, description="Group commits of redirect clicks in flight at once "
                                                          "(each holds a database connection while it writes).")
    link_cache_s: float = Field(default=1.0, description="How long the redirect trusts a cached link; a paused "
                                                         "campaign's links answer 410 at most this much later.")
    operator_token: SecretStr | None = Field(default=None, description="Bearer token of the operator API "
                                                                         "(tenants and keys); unset disables it.")
    key_announce_interval_s: float = Field(default=0.5, description="How often key changes are published to "
                                                                    "the other services.")
    key_grace_period_s: int = Field(default=86400, description="How long old keys stay valid after a rotation.")
