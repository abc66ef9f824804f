"""Test helpers: users of every role at Hunan Cancer Hospital ("own" site)."""

from __future__ import annotations

from trialdesk.domain.access import SYSTEM, Role
from trialdesk.services import accounts

OWN = "hunan-cancer-hospital"
OTHER = "anhui-provincial-hospital"
NCT = "NCT07003074"
PASSWORD = "correct horse battery"

SITE_SCOPED_ROLES = {Role.INVESTIGATOR, Role.COORDINATOR, Role.MONITOR}


def make_users(td) -> dict[Role, object]:
    """One user per role: site staff and monitors scoped to Hunan, the others trial-wide."""
    principals = {}
    with td.uow("setup") as uow:
        for role in Role:
            sites = [OWN] if role in SITE_SCOPED_ROLES else None
            accounts.add_user(uow, SYSTEM, f"{role.value}1", [(role.value, sites)], password=PASSWORD)
        uow.commit()
    with td.uow() as uow:
        for role in Role:
            principals[role] = accounts.principal_for(uow, uow.users.get(f"{role.value}1"))
    return principals


def token_for(td, username: str) -> str:
    with td.uow("setup") as uow:
        token = accounts.create_token(uow, SYSTEM, username)
        uow.commit()
    return token
