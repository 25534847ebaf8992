"""reward settings (env prefix KASKADE_REWARD_)."""
from pydantic import Field

from kaskade_platform.settings import ServiceSettings, settings_for


class Settings(ServiceSettings):
    model_config = settings_for("KASKADE_REWARD_")

    service_name: str = "reward"
    http_port: int = 8002
    # Every reward of a campaign books against one budget row, locked once per batch: bigger
    # batches are what make a hot campaign fast.
    consume_max_records: int = 5000
    relay_batch_size: int = 10_000
    # The default campaign's rule until campaigns arrive on the campaign topic.
    default_referrer_reward_minor: int = Field(default=500, ge=0)
    default_reward_kind: str = "account_credit"
    default_budget_minor: int = Field(default=100_000_000, ge=0, description="Per currency.")
    # Up to confirm_batch rewards per tick: capacity well above what the hot path grants.
    confirm_interval_s: float = Field(default=1.0, gt=0, description="How often rewards whose hold ended "
                                                                     "are confirmed.")
    confirm_batch: int = Field(default=5_000, ge=1, description="Rewards confirmed per transaction.")
