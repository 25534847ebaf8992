"""Customer profiles and erasure.

Contact data goes to notification alone (kaskade.customers.v1, compacted) and is never logged.
Deleting a customer publishes CustomerErased to every service, with a random replacement id
they all put in place of the customer's, and a tombstone that compacts the contact data away.
"""
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import AwareDatetime, BaseModel, Field

from kaskade_contracts.envelope import Contract, new_envelope
from kaskade_contracts.events import CustomerErased, CustomerId, CustomerProfileUpdated, Locale
from kaskade_contracts.topics import CUSTOMERS
from kaskade_platform.http import current_correlation_id
from kaskade_platform.outbox import Outbox
from share_ingest import repo
from share_ingest.models import ERRORS
from share_ingest.auth import TenantAuth


class CustomerProfile(Contract):
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    locale: Locale = Locale.en
    marketing_consent: bool = False
    segment: str | None = Field(default=None, max_length=64)


class CustomerView(BaseModel):
    email: str | None
    locale: Locale
    marketing_consent: bool
    segment: str | None
    customer_id: str
    updated_at: AwareDatetime


class ErasureAccepted(BaseModel):
    customer_id: str
    status: str = "erasure_requested"


def build_customer_router(auth: TenantAuth, pool: Any, outbox: Outbox) -> APIRouter:
    router = APIRouter(prefix="/v1/customers", tags=["customers"], responses=ERRORS)
    Tenant = Annotated[str, Depends(auth.tenant)]

    @router.put("/{customer_id}", response_model=CustomerView)
    async def upsert(customer_id: CustomerId, body: CustomerProfile, tenant: Tenant) -> CustomerView:
        fact = CustomerProfileUpdated(customer_id=customer_id, **body.model_dump())
        async with pool().acquire() as conn, conn.transaction():
            row = await repo.upsert_customer(conn, tenant, fact.model_dump(mode="json"))
            await outbox.enqueue(conn, [new_envelope(fact, tenant_id=tenant, correlation_id=current_correlation_id())])
        outbox.notify_committed()
        return CustomerView(**dict(row))

    @router.get("/{customer_id}", response_model=CustomerView)
    async def get(customer_id: CustomerId, tenant: Tenant) -> CustomerView:
        async with pool().acquire() as conn:
            row = await repo.customer(conn, tenant, customer_id)
        if row is None:
            raise HTTPException(404, {"error": "not_found", "detail": "no such customer"})
        return CustomerView(**dict(row))

    @router.delete("/{customer_id}", status_code=202, response_model=ErasureAccepted)
    async def erase(customer_id: CustomerId, tenant: Tenant) -> ErasureAccepted:
        replacement = f"erased-{secrets.token_hex(12)}"
        async with pool().acquire() as conn, conn.transaction():
            if not await repo.erase_customer(conn, tenant, customer_id, replacement):
                raise HTTPException(404, {"error": "not_found", "detail": "no such customer"})
            fact = CustomerErased(customer_id=customer_id, replacement_id=replacement)
            await outbox.enqueue(conn, [new_envelope(fact, tenant_id=tenant, correlation_id=current_correlation_id())])
            await outbox.enqueue_tombstones(conn, [(CUSTOMERS.name, f"{tenant}:{customer_id}")])
        outbox.notify_committed()
        return ErasureAccepted(customer_id=customer_id)

    return router
