"""notification's HTTP API against its own OpenAPI document, with the service running as its own
process. schemathesis generates valid ("positive") and invalid ("negative") requests for every
operation, with a tenant's API key; no answer may be a 5xx, and every answer must be one the
document describes. Generation is derandomized, so each run sends the same requests."""
from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import given
from schemathesis import GenerationMode

from kaskade_contracts.envelope import new_envelope
from kaskade_contracts.events import ApiKeyChanged
from kaskade_devtools.fuzz import CHECKS, constrained, fuzz_settings
from kaskade_devtools.stack import ROOT, Stack
from kaskade_devtools.testing import produce
from kaskade_platform import apikeys
from notification.app import build
from notification.config import Settings

pytestmark = pytest.mark.integration
FUZZ = fuzz_settings(25)


def cases() -> list[Any]:
    """(method, path, mode) for every documented operation; negative only where a request can be invalid."""
    app, _ = build(Settings(database_url="postgresql://collection-only.invalid/unused"))
    out = []
    for path, ops in app.openapi()["paths"].items():
        for method, spec in ops.items():
            invalid = "requestBody" in spec or any(constrained(p.get("schema", {})) for p in spec.get("parameters", []))
            out += [pytest.param(method.upper(), path, mode, id=f"{method.upper()} {path} {mode}")
                    for mode in (("positive", "negative") if invalid else ("positive",))]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def stack(infra: Any) -> Iterator[Stack]:
    base = free_port() - 3  # notification listens on base + 3
    s = Stack(log_dir=ROOT / ".local/fuzz-logs", http_port=base)
    try:
        s.start("notification")
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def schema(stack: Stack) -> Any:
    return schemathesis.openapi.from_url(f"{stack.url('notification')}/openapi.json")


@pytest.fixture(scope="module")
async def headers(stack: Stack, infra: Any, admin: asyncpg.Pool) -> dict[str, str]:
    tenant, key = f"fz-{uuid.uuid4().hex[:10]}", apikeys.mint()
    await produce(infra.kafka_bootstrap_servers, [new_envelope(
        ApiKeyChanged(key_id=key.key_id, secret_hash=key.secret_hash.hex()), tenant_id=tenant)])
    deadline = time.monotonic() + 30
    while not await admin.fetchval("SELECT true FROM notification.tenant_keys WHERE key_id = $1", key.key_id):
        assert time.monotonic() < deadline, "the key did not reach notification"
        await asyncio.sleep(0.05)
    yield {"Authorization": f"Bearer {key.token}"}
    await admin.execute("DELETE FROM notification.webhook_endpoints WHERE tenant_id = $1", tenant)


@pytest.mark.parametrize("method, path, mode", cases())
def test_every_operation_answers_as_documented(schema: Any, stack: Stack, headers: dict[str, str], method: str,
                                               path: str, mode: str) -> None:
    operation = schema[path][method]

    @FUZZ
    @given(case=operation.as_strategy(GenerationMode(mode)))
    def run(case: Any) -> None:
        case.call_and_validate(base_url=stack.url("notification"), headers=headers, checks=CHECKS,
                               allow_redirects=False)

    run()


@pytest.mark.parametrize("body", [
    {"url": "https://hooks.example.com/\u0000", "event_types": ["reward.granted"]},
    {"url": "https://hooks\u0000.example.com/", "event_types": ["reward.granted"]},
    {"url": "https://93.184.215.14/", "event_types": ["reward.granted"], "description": "a\u0000b"},
])
def test_a_nul_character_is_refused_not_a_server_error(stack: Stack, headers: dict[str, str],
                                                       body: dict[str, Any]) -> None:
    r = httpx.post(f"{stack.url('notification')}/v1/webhooks/endpoints", json=body, headers=headers)
    assert r.status_code == 422, r.text
