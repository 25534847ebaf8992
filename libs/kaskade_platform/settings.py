"""Settings every service shares; each service subclasses with its own env prefix.

Kafka's address is the same for every service, so it is also read from the unprefixed
KASKADE_KAFKA_BOOTSTRAP_SERVERS that the local scripts and docker-compose set once.
"""
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KASKADE_", extra="ignore")

    service_name: str = "kaskade"
    database_url: str = Field(description="asyncpg DSN for this service's own login role.")
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("kafka_bootstrap_servers", "KASKADE_KAFKA_BOOTSTRAP_SERVERS"),
    )
    db_pool_min: int = 2
    db_pool_max: int = 8

    # Consumer: one batch is one database transaction.
    consume_max_records: int = 500
    consume_batch_timeout_ms: int = 20
    consume_fetch_min_bytes: int = Field(
        default=16_384, ge=1, description="The broker holds a fetch until this much is there (or 50 ms pass). With "
                                          "1, a consumer under moderate load fetches a few events at a time and pays "
                                          "a transaction per handful: at 500 purchases/s end to end that took 1.9 "
                                          "cores and a p50 of 260-280 ms, against 1.7-1.8 cores and 140-150 ms.")
    consume_fetch_max_wait_ms: int = Field(
        default=100, ge=0, le=10_000,
        description="The longest the broker holds a fetch short of consume_fetch_min_bytes. Every fetch names all of a "
                    "consumer's partitions, and aiokafka encodes and decodes each in Python: at 50 ms the four "
                    "services idled at 0.21-0.24 cores, at 100-200 ms at 0.10-0.15, and end to end gave 2,773-2,944 "
                    "purchases/s against 2,746-2,830. At 500 ms a busy partition waited behind idle ones: 2,489-2,614.")
    consume_members: int = Field(
        default=1, ge=1, description="Kafka consumers per subscription in this process, each with partitions of its "
                                     "own: while one batch waits for Postgres another is decoded. The guarantees are "
                                     "those of running more instances.")
    claim_retention_s: float = Field(
        default=14 * 86_400.0, description="How long processed event ids are kept for deduplication; longer than "
                                           "the event topics keep records (7 days), so Kafka cannot redeliver an "
                                           "event whose claim is gone.")
    claim_purge_interval_s: float = 600.0
    max_attempts: int = Field(default=5, description="Attempts before a failing event goes to its dead-letter topic.")
    retry_backoff_initial_s: float = 0.05
    retry_backoff_max_s: float = 5.0

    # Outbox relay
    relay: bool = Field(
        default=True, description="Publish this schema's outbox from this process. One relay per schema publishes at a "
                                  "time (an advisory lock); turn it off on instances whose CPU should go to other "
                                  "work (e.g. share-ingest's HTTP intake), keeping it on in at least one.")
    relay_batch_size: int = 1000
    relay_poll_interval_s: float = 0.5
    outbox_retention_s: float = Field(
        default=0.0, description="How long published outbox rows are kept for inspection; 0 deletes them as soon "
                                 "as Kafka has acknowledged them (the cheapest, and the default).")

    # HTTP API (services that serve one)
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    max_body_bytes: int = 2 * 1024 * 1024
    key_cache_s: float = Field(default=10.0, description="How long a verified API key is trusted without a query.")
    rate_limit_per_s: float = Field(default=2000.0, description="Requests (batch items) per second per tenant.")
    rate_limit_burst: float = 4000.0

    gc_thresholds: tuple[int, int, int] = Field(
        default=(50_000, 50, 1_000),
        description="Python's garbage-collector thresholds once the service runs. A consumer builds thousands of "
                    "objects per batch; on Python's defaults (700, 10, 10) it collected over and over while doing "
                    "so, and reward alone granted 5-15% fewer rewards per second. Reference cycles are rare here: "
                    "most garbage is freed at once by reference counting.")
    http_telemetry: bool = Field(
        default=False, description="FastAPI's OpenTelemetry spans, metrics and logs per request, when a provider is "
                                   "configured. Off, its per-request check for a provider is skipped too: it was "
                                   "about 5% of the referral redirect's CPU.")

    log_level: str = "INFO"
    graceful_timeout_s: float = 30.0


def settings_for(prefix: str) -> SettingsConfigDict:
    """Config for a service's settings class: its own prefix, e.g. KASKADE_REWARD_DATABASE_URL."""
    return SettingsConfigDict(env_prefix=prefix, extra="ignore")
