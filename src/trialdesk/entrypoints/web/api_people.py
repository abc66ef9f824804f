"""JSON API: the caller, sites and site activation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from trialdesk.entrypoints.web.auth import ApiUser
from trialdesk.entrypoints.web.deps import PrincipalDep, UowDep, committed
from trialdesk.services import sites
from trialdesk.services.commands import ChangeSiteStatus

router = APIRouter(prefix="/api/v1", dependencies=[ApiUser], tags=["people and sites"])


class Me(BaseModel):
    username: str
    roles: list[str]
    scope: str = Field(description="roles with their sites, e.g. 'coordinator (hunan-cancer-hospital)'")


@router.get("/me")
def me(p: PrincipalDep) -> Me:
    """Who you are, and your roles and sites."""
    return Me(username=p.username, roles=sorted(r.value for r in p.roles), scope=p.role_summary)


@router.get("/trials/{nct_id}/sites")
def list_sites(nct_id: str, p: PrincipalDep, uow: UowDep) -> list[dict[str, Any]]:
    """Sites you may see."""
    return sites.list_sites(uow, p, nct_id)


@router.get("/trials/{nct_id}/sites/{site_key}")
def get_site(nct_id: str, site_key: str, p: PrincipalDep, uow: UowDep) -> dict[str, Any]:
    return sites.view_site(uow, p, nct_id, site_key)


@router.post("/trials/{nct_id}/sites/{site_key}/status")
def change_status(nct_id: str, site_key: str, body: ChangeSiteStatus, p: PrincipalDep, uow: UowDep) -> dict[str, Any]:
    """Admin: move a site through its activation states (audited with the reason)."""
    return committed(uow, sites.change_site_status(uow, p, nct_id, site_key, body))
