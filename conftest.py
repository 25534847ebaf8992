"""Where the tests find Kafka and Postgres, in this order:

1. environment variables pointing at running services (what `make test`, `.ci/run` and
   deploy/local/env.sh set);
2. testcontainers (Kafka and Postgres modules) when a Docker engine answers;
3. otherwise a clear failure saying how to start local infrastructure. Integration tests never
   skip: a missing service is an error.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from dataclasses import dataclass
from pathlib import Path

import pytest

from kaskade_devtools.groups import own_names, start_at_end

ROOT = Path(__file__).resolve().parent
SERVICE_ROLES = ("share_ingest", "attribution", "reward", "notification")
HOW_TO = ("No Kafka/Postgres found. Start local infrastructure with `make up` and export its settings with "
          "`set -a; . deploy/local/env.sh; set +a` (or just run `make test`), or run a Docker engine so "
          "testcontainers can start them.")


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap_servers: str
    database_urls: dict[str, str]  # per service role, plus "admin"
    source: str


def _from_env() -> Infra | None:
    kafka = os.environ.get("KASKADE_KAFKA_BOOTSTRAP_SERVERS")
    urls = {r: os.environ.get(f"KASKADE_{r.upper()}_DATABASE_URL") for r in (*SERVICE_ROLES, "admin")}
    if kafka and all(urls.values()):
        return Infra(kafka, urls, "environment")  # type: ignore[arg-type]
    return None


def _docker_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _from_testcontainers(stack: list[object]) -> Infra:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    pg = PostgresContainer("postgres:15", username="postgres", password="postgres", dbname="postgres")
    pg.with_volume_mapping(str(ROOT / "deploy/local/sql"), "/kaskade-sql")
    pg.start()
    stack.append(pg)
    code, out = pg.exec(["psql", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "postgres",
                         "-f", "/kaskade-sql/bootstrap.sql"])
    if code != 0:
        raise RuntimeError(f"bootstrap.sql failed in the Postgres container: {out!r}")
    kafka = KafkaContainer("apache/kafka:4.1.1").with_kraft()
    kafka.start()
    stack.append(kafka)
    host, port = pg.get_container_host_ip(), pg.get_exposed_port(5432)
    urls = {r: f"postgresql://{r}:{r}@{host}:{port}/kaskade?sslmode=disable" for r in SERVICE_ROLES}
    urls["admin"] = f"postgresql://kaskade_admin:kaskade_admin@{host}:{port}/kaskade?sslmode=disable"
    return Infra(kafka.get_bootstrap_server(), urls, "testcontainers")


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    found = _from_env()
    containers: list[object] = []
    if found is None and _docker_answers():
        found = _from_testcontainers(containers)
        os.environ["KASKADE_KAFKA_BOOTSTRAP_SERVERS"] = found.kafka_bootstrap_servers
        for role, url in found.database_urls.items():
            os.environ[f"KASKADE_{role.upper()}_DATABASE_URL"] = url
    if found is None:
        pytest.fail(HOW_TO, pytrace=False)
    # The services started by the tests, in process or not, join consumer groups of this session's
    # own, at the end of every topic: what earlier runs left there is not theirs to read.
    names = own_names(f"test-{secrets.token_hex(3)}")
    with ThreadPoolExecutor(1) as thread:  # its own event loop, apart from the tests' ones
        thread.submit(asyncio.run, start_at_end(found.kafka_bootstrap_servers, names)).result()
    os.environ.update(names)
    yield found
    for name in names:
        os.environ.pop(name, None)
    for c in reversed(containers):
        c.stop()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
async def admin(infra: Infra) -> Any:
    """A pool as kaskade_admin, a member of every service role: tests inspect any schema with it."""
    import asyncpg

    pool = await asyncpg.create_pool(infra.database_urls["admin"], min_size=1, max_size=3)
    yield pool
    await pool.close()
