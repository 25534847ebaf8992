"""Topic names, who owns them, and how they are laid out.

Names carry a major version: a breaking change gets a new topic, so consumers of the old one
keep working while they migrate.
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Topic:
    name: str
    owner: str
    description: str
    # Twelve: ops scale a service by running instances (and group members) in its consumer group,
    # and 12 splits evenly over 1, 2, 3, 4 or 6 of them. With 6, four members got 2, 2, 1 and 1
    # partitions: the group worked at the pace of the loaded pair, and attribution alone
    # worked off a backlog at 6.5-7.0k conversions/s against 7.2-9.1k with 12 (fresh broker both times).
    # Topics that exist keep their count: adding partitions would move keys, and each key's order with them.
    partitions: int = 12
    config: dict[str, str] = field(default_factory=dict)

    @property
    def dead_letter(self) -> str:
        return f"{self.name}.dlq"


INTAKE = Topic("kaskade.intake.v1", "product backends",
               "Commands from product backends that publish directly: RecordShare, RecordClick, "
               "RecordConversion, RecordRefund.")
SHARES = Topic("kaskade.shares.v1", "share-ingest", "ShareRecorded: a customer shared a referral link.")
CLICKS = Topic("kaskade.clicks.v1", "share-ingest", "LinkClicked: a person followed a referral link.")
CONVERSIONS = Topic("kaskade.conversions.v1", "share-ingest",
                    "ConversionRecorded / RefundRecorded: signups, purchases and their refunds.")
ATTRIBUTIONS = Topic("kaskade.attributions.v1", "attribution",
                     "ConversionAttributed / ConversionUnattributed / AttributionRejected / AttributionReversed / "
                     "ReferralReparented.")
REWARDS = Topic("kaskade.rewards.v1", "reward",
                "RewardGranted / RewardConfirmed / RewardRevoked / RewardDeclined / CampaignBudgetWarning / "
                "CampaignBudgetExhausted: the public contract downstream systems consume.")

CAMPAIGNS = Topic("kaskade.campaigns.v1", "share-ingest",
                  "CampaignDefined: the latest definition of each campaign (compacted: one per campaign).",
                  config={"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"})

CUSTOMERS = Topic("kaskade.customers.v1", "share-ingest",
                  "CustomerProfileUpdated: contact data (email), for notification only. Compacted; an erased "
                  "customer's key gets a tombstone.", config={"cleanup.policy": "compact"})
ERASURES = Topic("kaskade.erasures.v1", "share-ingest",
                 "CustomerErased: every service removes or anonymises that customer's personal data.")

TENANTS = Topic("kaskade.tenants.v1", "share-ingest",
                 "ApiKeyChanged: tenant API key hashes, so every service with a tenant API can authenticate. "
                 "Compacted: the latest state of each key.", partitions=1, config={"cleanup.policy": "compact"})

NOTIFICATIONS = Topic("kaskade.notifications.v1", "notification",
                       "WebhookEndpointDisabled: a tenant's webhook endpoint stopped receiving deliveries.")

ALL: tuple[Topic, ...] = (INTAKE, CAMPAIGNS, CUSTOMERS, ERASURES, TENANTS, SHARES, CLICKS, CONVERSIONS, ATTRIBUTIONS,
                          REWARDS, NOTIFICATIONS)
# Dead letters are kept long: someone has to look at them before they expire.
DLQ_CONFIG = {"retention.ms": str(30 * 24 * 3600 * 1000)}


def by_name(name: str) -> Topic:
    for topic in ALL:
        if topic.name == name:
            return topic
    raise KeyError(name)
