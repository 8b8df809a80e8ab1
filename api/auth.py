"""Bearer API keys as FastAPI dependencies: 401 without a valid key, 403 without the role.

`require("crew")` is a dependency that returns the caller's `Principal`; roles rank viewer < crew <
manager < admin. Zone-bound keys are filtered by the routes (`Principal.sees`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.keys import Principal, Role
from api.resources import Resources, resources

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer sw_...`")
UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


async def authenticate(request: Request,
                       credentials: Annotated[HTTPAuthorizationCredentials | None,
                                              Depends(_bearer)],
                       res: Annotated[Resources, Depends(resources)]) -> Principal:
    """The caller's principal; 401 for no key, a malformed, unknown, wrong or revoked one. A key
    whose row was read in the last second is answered at once; else the row is read (and the
    slow hash checked, once per process) in a worker thread."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "an API key is required (Authorization: Bearer ...)",
                            headers=UNAUTHORIZED)
    principal = res.keys.recent(credentials.credentials)
    if principal is None:
        principal = await run_in_threadpool(res.keys.authenticate, credentials.credentials)
    if principal is None:
        raise HTTPException(401, "the API key is not valid", headers=UNAUTHORIZED)
    request.state.principal = principal  # the access log names the key (never the key itself)
    return principal


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller's principal when its role holds `role`, else 403. Async (it
    does no I/O): FastAPI runs a plain `def` dependency in a worker thread, a hand-off that cost
    more CPU than the check itself."""

    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.has(role):
            raise HTTPException(403, f"this needs the {role} role; the key has {principal.role}")
        return principal

    check.__name__ = f"require_{role}"
    return check


Viewer = Annotated[Principal, Depends(require("viewer"))]
Crew = Annotated[Principal, Depends(require("crew"))]
Manager = Annotated[Principal, Depends(require("manager"))]
Admin = Annotated[Principal, Depends(require("admin"))]
