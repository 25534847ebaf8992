"""notification settings (env prefix KASKADE_NOTIFICATION_)."""
from kaskade_platform.settings import ServiceSettings, settings_for


class Settings(ServiceSettings):
    model_config = settings_for("KASKADE_NOTIFICATION_")

    service_name: str = "notification"
