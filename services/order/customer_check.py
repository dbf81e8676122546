"""CopyFirstCustomers: is this a customer? The order context's own copy answers first.

The copy (`customer_directory`, fed by the user context's events) is asked
before the user service, and only a customer the copy does not know costs a
GetUser over mTLS:

- **A positive answer from the copy is trustworthy.** A row is there only
  because the user context said the user registered, and the user domain
  never deletes or deactivates a user: once a customer, always one. (If it
  ever does, the copy must carry that state, fed by its event, and `knows`
  must answer False for such a row.)
- **A miss is not.** The copy is eventually consistent: a user who signed up
  a moment ago may not be in it yet (their UserRegistered is still on its
  way), or NATS may be down. So a miss asks the user service, the owner,
  whose NOT_FOUND is the only "no".

What this buys: most orders come from customers who registered more than a
few milliseconds ago, so the common PlaceOrder makes one indexed read in its
own database instead of a call to another service (docs/performance.md);
and while the user service is unreachable, known customers can still order
(docs/deployment.md, "Outage windows"). An unknown one gets UNAVAILABLE with
RetryInfo, as before.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from services.order.handlers import CustomerCheck


class KnownCustomers(Protocol):
    async def knows(self, customer_id: uuid.UUID) -> bool:
        """True when the copy holds the customer; False says nothing either way."""


class CopyFirstCustomers:
    """A CustomerCheck: `copy` first, `owner` (the user service) on a miss."""

    def __init__(self, copy: KnownCustomers, owner: CustomerCheck) -> None:
        self._copy = copy
        self._owner = owner

    async def exists(self, customer_id: uuid.UUID) -> bool:
        if await self._copy.knows(customer_id):
            return True
        return await self._owner.exists(customer_id)
