"""notification settings (env prefix KASKADE_NOTIFICATION_)."""
from pydantic import Field, SecretStr

from kaskade_platform.settings import ServiceSettings, settings_for


class Settings(ServiceSettings):
    model_config = settings_for("KASKADE_NOTIFICATION_")

    service_name: str = "notification"
    http_port: int = 8003
    db_pool_max: int = 12  # the consumer, the API, the email planner and senders, the webhook claims and flushes

    # Email
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool | None = Field(default=None, description="None: STARTTLS when the server offers it.")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = 10.0
    smtp_connections: int = Field(default=8, description="Open SMTP connections, each sending one mail at a time.")
    mail_from: str = "Kaskade Rewards <rewards@kaskade.local>"
    mail_domain: str = Field(default="kaskade.local", description="Right-hand side of our Message-IDs.")
    public_base_url: str = Field(default="http://127.0.0.1:8003",
                                 description="Where customers reach the unsubscribe endpoint, e.g. https://notify.example.com")
    unsubscribe_secret: SecretStr = Field(default=SecretStr("dev-only-unsubscribe-secret"),
                                          description="Key for unsubscribe links; set a real one in production.")
    webhook_secret_keys: SecretStr = Field(
        default=SecretStr("dev-only-webhook-secret-key-do-not-use-in-production"),
        description="Key ring sealing webhook signing secrets at rest: comma-separated keys of at least 32 "
                    "characters; the first seals, all open (put a new key first to rotate).")
    webhook_reseal_interval_s: float = 60.0
    email_batch: int = 200
    email_senders: int = Field(default=4, description="Sending loops; each claims 4 mails per SMTP connection.")
    email_poll_interval_s: float = Field(default=1.0, description="How often the email loops look for jobs and "
                                         "retries coming due; jobs this process writes start at once.")
    email_lease_s: float = Field(default=120.0, description="A claimed email not recorded by then is sent again.")
    email_max_attempts: int = 8
    email_backoff_initial_s: float = 30.0
    email_backoff_max_s: float = 3600.0
    email_burst: int = Field(default=3, description="Emails per recipient per window before a digest.")
    email_window_s: float = 3600.0
    email_contact_wait_s: float = Field(default=600.0, description="How long an email waits for a missing contact.")

    email_retention_days: int = Field(default=180, description="Sent emails' records (and so their unsubscribe "
                                                               "links) are kept this long.")

    # Webhooks
    webhook_timeout_s: float = Field(default=10.0, description="Per attempt: connect, send and answer.")
    webhook_lease_s: float | None = Field(default=None, description="A claimed delivery not recorded by then (its "
                                                                    "instance died) is attempted again; default "
                                                                    "twice the timeout plus 30 s.")
    webhook_concurrency: int = Field(default=512, description="Attempts in flight in this process.")
    webhook_per_endpoint: int = Field(default=16, description="Attempts in flight per endpoint.")
    webhook_per_tenant: int = Field(default=64, description="Attempts in flight per tenant, all endpoints.")
    webhook_batch: int = 500
    webhook_poll_interval_s: float = Field(default=0.5, description="How often the webhook loop looks for "
                                           "retries coming due and work other instances wrote; deliveries this "
                                           "process writes start at once.")
    webhook_flush_interval_s: float = 0.02
    webhook_max_attempts: int = 12
    webhook_backoff_initial_s: float = 5.0
    webhook_backoff_max_s: float = 6 * 3600.0
    webhook_disable_after_s: float = Field(default=5 * 86400.0,
                                           description="An endpoint failing for this long is disabled.")
    webhook_allow_loopback: bool = Field(default=False, description="Allow loopback URLs (tests, local "
                                                                    "development); never in production.")
    webhook_retention_days: int = Field(default=30, description="Finished deliveries and their attempts are kept "
                                                                "this long.")
    purge_interval_s: float = 600.0
