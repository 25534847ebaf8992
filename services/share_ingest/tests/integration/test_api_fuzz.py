"""share-ingest's HTTP API against its own OpenAPI document, with the service running as its own
process. schemathesis generates requests for every tenant operation (/v1, with a tenant's API key),
every operator operation (/admin/v1, with the operator token) and the referral redirect: valid ones
("positive") and ones that break the document on purpose ("negative"). No answer may be a 5xx, and
every answer must be one the document describes (status code, content type, headers, body).

Generation is derandomized, so each run sends the same requests. Positive examples may point at the
tenant's own share, code or conversion, or replay its click or refund, so the fuzzer reaches the paths
that write and the replies to retries, not only the 404s.
"""
from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode

from kaskade_devtools.fuzz import CHECKS, constrained, fuzz_settings
from kaskade_devtools.stack import ROOT, Stack
from kaskade_devtools.testing import register_tenant
from share_ingest.app import build
from share_ingest.config import Settings

pytestmark = pytest.mark.integration
MAX_EXAMPLES = 30
FUZZ = fuzz_settings(MAX_EXAMPLES, shrink=True)


def documented_operations() -> dict[tuple[str, str], bool]:
    """(method, path) of every operation the service documents -> whether an invalid request to it exists.
    Building the app connects to nothing."""
    app, _ = build(Settings(database_url="postgresql://collection-only.invalid/unused"))
    return {(method.upper(), path): "requestBody" in spec or any(constrained(p.get("schema", {}))
                                                                 for p in spec.get("parameters", []))
            for path, ops in app.openapi()["paths"].items() for method, spec in ops.items()}


OPERATIONS = documented_operations()

KNOWN_BUGS: dict[tuple[str, str, str], str] = {}  # (method, path, mode) -> reason, while a bug is open


def cases(prefix: str) -> list[Any]:
    params = []
    for (method, path), can_be_invalid in OPERATIONS.items():
        if not path.startswith(prefix):
            continue
        for mode in ("positive", "negative") if can_be_invalid else ("positive",):
            bug = KNOWN_BUGS.get((method, path, mode))
            marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
            params.append(pytest.param(method, path, mode, id=f"{method} {path} {mode}", marks=marks))
    return params


# --- the running service ----------------------------------------------------------------------

def http_port(preferred: int = 8400) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            s.bind(("127.0.0.1", 0))  # another run holds 8400: any free port will do
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def operator_token(infra: Any) -> str:
    return os.environ.get("KASKADE_SHARE_INGEST_OPERATOR_TOKEN") or "fuzz-operator-token"


@pytest.fixture(scope="module")
def service(infra: Any, operator_token: str) -> Iterator[Stack]:
    stack = Stack(log_dir=ROOT / ".local/fuzz-logs", http_port=http_port(),
                  extra_env={"KASKADE_SHARE_INGEST_OPERATOR_TOKEN": operator_token})
    try:
        stack.start("share_ingest")
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def schema(service: Stack) -> Any:
    return schemathesis.openapi.from_url(f"{service.base_url}/openapi.json")


@pytest.fixture
async def tenant(service: Stack, operator_token: str) -> dict[str, Any]:
    """A fresh tenant's headers, and a share, click, conversion and refund of its own for the fuzzer to aim at.
    Fresh per test: fuzzing one operation (pausing campaigns, say) must not change what the next one meets."""
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        headers = await register_tenant(client, f"fz-{uuid.uuid4().hex[:10]}", operator_token)
        seeded = {"share_id": str(uuid.uuid4()), "click_id": str(uuid.uuid4()), "conversion_id": str(uuid.uuid4()),
                  "refund_id": str(uuid.uuid4())}
        r = await client.post("/v1/shares", json={"share_id": seeded["share_id"], "sharer_id": "anna",
                                                  "channel": "email"}, headers=headers)
        assert r.status_code == 201, r.text
        code = r.json()["referral_code"]
        r = await client.post("/v1/events:batch", headers=headers, json={"events": [
            {"type": "click", "click_id": seeded["click_id"], "referral_code": code, "visitor_id": "v-1",
             "user_agent": "Mozilla/5.0"},
            {"type": "conversion", "conversion_id": seeded["conversion_id"], "customer_id": "ben", "kind": "purchase",
             "amount_minor": 10**12},
            {"type": "refund", "refund_id": seeded["refund_id"], "conversion_id": seeded["conversion_id"],
             "amount_minor": 1}]})
        assert r.status_code == 200 and r.json()["accepted"] == 3, r.text
    return {"headers": headers, "code": code, **seeded}


@pytest.fixture(scope="module")
async def operator_tenant(service: Stack, operator_token: str) -> str:
    """The tenant whose keys positive operator examples rotate, list and revoke (never someone else's)."""
    tenant = f"fz-op-{uuid.uuid4().hex[:10]}"
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        await register_tenant(client, tenant, operator_token)
    return tenant


# Per operation: the body field or path parameter that names an existing thing, and the one that
# names the thing itself (reusing it makes the request a replay).
REFERENCE = {"/v1/shares/{share_id}": ("path", "share_id", "share_id"),
             "/v1/conversions/{conversion_id}": ("path", "conversion_id", "conversion_id"),
             "/r/{code}": ("path", "code", "code"),
             "/v1/clicks": ("body", "referral_code", "code"),
             "/v1/conversions": ("body", "referral_code", "code"),
             "/v1/refunds": ("body", "conversion_id", "conversion_id")}
REPLAYED = {"/v1/shares": "share_id", "/v1/clicks": "click_id", "/v1/conversions": "conversion_id",
          "/v1/refunds": "refund_id"}


def aim(case: Any, tenant: dict[str, Any], reference: bool, replay: bool) -> None:
    """Point a valid example at the tenant's own data, so it gets past 'not found' into the writes."""
    path, body = case.operation.path, case.body if isinstance(case.body, dict) else None
    if reference and path in REFERENCE:
        where, name, seeded = REFERENCE[path]
        if where == "path":
            case.path_parameters[name] = tenant[seeded]
        elif body is not None:
            body[name] = tenant[seeded]
    if replay and path in REPLAYED and body is not None:
        body[REPLAYED[path]] = tenant[REPLAYED[path]]


def fuzz(operation: Any, mode: str, base_url: str, headers: dict[str, str], tenant: dict[str, Any] | None = None,
         path_parameters: dict[str, str] | None = None) -> None:
    strategy = operation.as_strategy(GenerationMode(mode), path_parameters=path_parameters)

    @FUZZ
    @given(case=strategy, reference=st.booleans(), replay=st.booleans())
    def run(case: Any, reference: bool, replay: bool) -> None:
        if tenant is not None and mode == "positive":
            aim(case, tenant, reference, replay)
        if operation.path == "/admin/v1/tenants" and mode == "positive" and isinstance(case.body, dict):
            # Tenants the fuzzer creates keep to a namespace of their own.
            case.body["tenant_id"] = f"fz-{case.body['tenant_id']}"[:63]
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, allow_redirects=False)

    run()


# --- the tests --------------------------------------------------------------------------------

def test_the_running_service_documents_what_is_fuzzed(schema: Any) -> None:
    live = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}

    assert live == set(OPERATIONS)
    assert any(path.startswith("/v1/") for _, path in live) and any(path.startswith("/admin/v1/") for _, path in live)


@pytest.mark.parametrize("method, path, mode", cases("/v1/"))
def test_the_tenant_api_answers_every_request_as_documented(schema: Any, service: Stack, tenant: dict[str, Any],
                                                            method: str, path: str, mode: str) -> None:
    fuzz(schema[path][method], mode, service.base_url, tenant["headers"], tenant)


@pytest.mark.parametrize("method, path, mode", cases("/admin/v1/"))
def test_the_operator_api_answers_every_request_as_documented(schema: Any, service: Stack, operator_token: str,
                                                              operator_tenant: str, method: str, path: str,
                                                              mode: str) -> None:
    fixed = {"tenant_id": operator_tenant} if mode == "positive" and "{tenant_id}" in path else None
    fuzz(schema[path][method], mode, service.base_url, {"Authorization": f"Bearer {operator_token}"},
         path_parameters=fixed)


@pytest.mark.parametrize("method, path, mode", cases("/r/"))
def test_the_referral_redirect_answers_every_request_as_documented(schema: Any, service: Stack,
                                                                   tenant: dict[str, Any], method: str, path: str,
                                                                   mode: str) -> None:
    fuzz(schema[path][method], mode, service.base_url, {}, tenant)


# --- what the fuzzer's alphabet rarely reaches ------------------------------------------------

CODE = "<the tenant's referral code>"


@pytest.mark.parametrize("method, path, body, expected", [
    pytest.param("POST", "/v1/shares", {"sharer_id": "anna\u0000", "channel": "email"}, 422, id="share-sharer"),
    pytest.param("POST", "/v1/shares", {"sharer_id": "anna", "channel": "email", "message_variant": "a\u0000"}, 422,
                 id="share-variant"),
    pytest.param("POST", "/v1/conversions", {"conversion_id": str(uuid.UUID(int=7)), "customer_id": "ben\u0000",
                                             "kind": "signup"}, 422, id="conversion-customer"),
    pytest.param("POST", "/v1/clicks", {"referral_code": CODE, "visitor_id": "v\u0000", "user_agent": "Mozilla/5.0"},
                 422, id="click-visitor"),
    pytest.param("POST", "/v1/campaigns", {"campaign_id": "nul-name", "name": "Summer\u0000",
                                           "landing_url": "https://shop.example.com/"}, 422, id="campaign-name"),
    pytest.param("PUT", "/v1/customers/ben", {"segment": "vip\u0000"}, 422, id="customer-segment"),
    pytest.param("GET", "/v1/customers/b%00n", None, 422, id="customer-id"),
    pytest.param("GET", "/r/ab%00cd", None, 404, id="redirect-code"),
])
def test_a_nul_character_is_refused_not_a_server_error(service: Stack, tenant: dict[str, Any], method: str,
                                                       path: str, body: Any, expected: int) -> None:
    headers = tenant["headers"] if path.startswith("/v1/") else {}
    body = {k: tenant["code"] if v == CODE else v for k, v in body.items()} if body else None

    r = httpx.request(method, f"{service.base_url}{path}", json=body, headers=headers)

    assert r.status_code == expected, r.text
    assert r.status_code == 404 or r.json()["error"] == "validation_failed"


def test_a_nul_character_in_one_batch_item_does_not_fail_its_neighbours(service: Stack,
                                                                         tenant: dict[str, Any]) -> None:
    events = [{"type": "share", "sharer_id": "anna", "channel": "email"},
              {"type": "share", "sharer_id": "bad\u0000", "channel": "email"}]

    r = httpx.post(f"{service.base_url}/v1/events:batch", json={"events": events}, headers=tenant["headers"])

    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == ["accepted", "rejected"]


@pytest.mark.parametrize("path, body", [
    pytest.param("/admin/v1/tenants", {"tenant_id": None, "name": "Acme\u0000"}, id="tenant-name"),
    pytest.param("/admin/v1/tenants/{tenant}/api-keys/key%00id", None, id="revoke-key-id"),
])
def test_a_nul_character_in_an_operator_request_is_refused(service: Stack, operator_token: str,
                                                           operator_tenant: str, path: str, body: Any) -> None:
    auth = {"Authorization": f"Bearer {operator_token}"}
    if body is None:
        r = httpx.delete(f"{service.base_url}{path.format(tenant=operator_tenant)}", headers=auth)
    else:
        r = httpx.post(f"{service.base_url}{path}", headers=auth,
                       json={**body, "tenant_id": f"fz-nul-{uuid.uuid4().hex[:8]}"})

    assert r.status_code in (404, 422), r.text
