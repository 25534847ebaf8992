"""A stored history for the attribution phase: one tenant's links, clicks, cascade, devices,
outcomes (with their order ids), written straight into attribution's tables with its own role
(as if it had consumed them), so a history of millions costs seconds, not a replay.

Customers c0..c{n-1} each have one link (code k{i}); the first 1% are seeders and every other
customer was referred by c{(i - seeders) // 10}, a few generations deep. Click j followed link
k{j % n} from visitor v{j % (clicks / 3)} some time in the last 30 days (never in the last minutes).
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import asyncpg

SCHEMA = "attribution"


def click_uuid(j: int) -> uuid.UUID:
    return uuid.UUID(int=j)


class History:
    def __init__(self, tenant: str, customers: int, clicks: int) -> None:
        self.tenant, self.customers, self.clicks = tenant, customers, clicks
        self.seeders = max(customers // 100, 1)

    def referrer(self, i: int) -> int | None:
        return None if i < self.seeders else (i - self.seeders) // 10

    def bound(self, i: int) -> bool:
        return i >= self.seeders

    async def write(self, conn: asyncpg.Connection) -> dict[str, int]:
        t, n, now = self.tenant, self.customers, datetime.now(timezone.utc)
        await conn.copy_records_to_table(
            "referral_links", schema_name=SCHEMA,
            columns=["tenant_id", "referral_code", "campaign_id", "sharer_id", "share_id", "channel"],
            records=((t, f"k{i}", "default", f"c{i}", uuid.uuid4(), "email") for i in range(n)))
        uplines: list[list[str]] = [[] for _ in range(n)]
        bindings, devices, outcomes = [], [], []
        for i in range(self.seeders, n):
            r = self.referrer(i)
            assert r is not None
            up = uplines[r] + [f"c{r}"]
            uplines[i] = up
            conv = uuid.uuid4()
            parent = None  # the parent's conversion id does not matter to the cost of a lookup
            bindings.append((t, f"c{i}", f"c{r}", up[0], len(up), conv, parent, up, "default",
                             now - timedelta(days=20)))
            devices.append((t, f"c{i}", f"d{i}", f"ipd{i}"))
            outcomes.append((t, conv, "default", f"c{i}", "attributed", f"c{r}", len(up), None, 5000, "EUR",
                             f"h{i}"))
        await conn.copy_records_to_table(
            "bindings", schema_name=SCHEMA, records=bindings,
            columns=["tenant_id", "referee_id", "referrer_id", "root_seeder_id", "generation", "conversion_id",
                     "parent_conversion_id", "upline", "campaign_id", "bound_at"])
        await conn.copy_records_to_table("customer_devices", schema_name=SCHEMA, records=devices,
                                         columns=["tenant_id", "customer_id", "visitor_id", "ip_hash"])
        await conn.copy_records_to_table(
            "conversion_outcomes", schema_name=SCHEMA, records=outcomes,
            columns=["tenant_id", "conversion_id", "campaign_id", "customer_id", "outcome", "referrer_id",
                     "generation", "reason", "amount_minor", "currency", "order_id"])
        visitors, ips = max(self.clicks // 3, 1), max(self.clicks // 10, 1)
        await conn.execute(
            f"""INSERT INTO {SCHEMA}.clicks (tenant_id, click_id, referral_code, visitor_id, ip_hash, clicked_at,
                                             campaign_id)
                SELECT $1, ('00000000-0000-0000-0000-' || lpad(to_hex(j), 12, '0'))::uuid, 'k' || (j % $3),
                       'v' || (j % $4), 'ip' || (j % $5),
                       $6::timestamptz - make_interval(secs => 600 + (j * 7919) % 2500000), 'default'
                FROM generate_series(0::bigint, $2::bigint - 1) AS j""", t, self.clicks, n, visitors, ips, now)
        # A history grown over months has statistics autovacuum keeps current; one bulk-loaded a
        # second ago does not, and the planner then hashes 100,000 links to find a few hundred.
        # It has also been vacuumed: its pages are all-visible and its rows' hint bits are set. One
        # just loaded is not, so autovacuum took it on during the timed run, and the first reads of
        # each row wrote its page. With ANALYZE alone, 10 backlog runs at 1x gave 5,909-8,794/s
        # (four under 6,500); with VACUUM, four gave 8,148-8,788.
        for table in ("clicks", "referral_links", "bindings", "customer_devices", "conversion_outcomes"):
            await conn.execute(f"VACUUM (ANALYZE) {SCHEMA}.{table}")
        return {"customers": n, "clicks": self.clicks, "bindings": len(bindings)}

    async def erase(self, conn: asyncpg.Connection) -> None:
        for table in ("clicks", "referral_links", "bindings", "customer_devices", "conversion_outcomes",
                      "rejections", "held_conversions", "held_refunds", "reversals"):
            await conn.execute(f"DELETE FROM {SCHEMA}.{table} WHERE tenant_id = $1", self.tenant)
