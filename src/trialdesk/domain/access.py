"""Who may do what, where: roles, actions, site scopes and the one permission matrix.

A user holds one or more :class:`Grant` s; each gives a :class:`Role` at chosen sites or at all sites. An action
is allowed at a site when some grant's role permits the action and the grant's scope covers the site. Actions
that are not about one site (``SITE_FREE``) need the role alone. The service layer calls :func:`require` before
doing anything; views only hide what the service would refuse anyway.

The matrix is rendered for the docs by ``trialdesk users permissions`` (see ``docs/permissions.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from trialdesk.domain.errors import PermissionDenied


class Role(StrEnum):
    ADMIN = "admin"
    SPONSOR = "sponsor"
    INVESTIGATOR = "investigator"
    COORDINATOR = "coordinator"
    MONITOR = "monitor"
    STATISTICIAN = "statistician"


class Action(StrEnum):
    # administration
    USER_MANAGE = "user.manage"
    SITE_ACTIVATE = "site.activate"
    PROTOCOL_LOAD = "protocol.load"
    CTCAE_LOAD = "ctcae.load"
    AUDIT_VIEW = "audit.view"
    # operational summaries (no subject-level identifiers)
    SITE_VIEW = "site.view"
    DASHBOARD_VIEW = "dashboard.view"
    # subject-level work
    SUBJECT_VIEW = "subject.view"
    SCREEN = "screening.create"
    RANDOMIZE = "randomization.allocate"
    DATA_ENTER = "data.enter"
    QUERY_RAISE = "query.raise"
    QUERY_ANSWER = "query.answer"
    QUERY_CLOSE = "query.close"
    CASEBOOK_SIGN = "casebook.sign"
    # risk-based monitoring (issue 15): SDV marks, the deviation log, key risk indicators per site
    SDV_MARK = "sdv.mark"
    DEVIATION_RECORD = "deviation.record"
    DEVIATION_CLOSE = "deviation.close"
    MONITORING_VIEW = "monitoring.view"
    # unblinded statistics
    RANDOMIZATION_LIST = "randomization.list"
    RANDOMIZATION_MANAGE = "randomization.manage"
    ANALYSIS_RUN = "analysis.run"
    RESULTS_POST = "results.post"
    RESULTS_APPROVE = "results.approve"
    TRIAL_DECIDE = "trial.decide"
    DESIGN_SIMULATE = "design.simulate"


A = Action
#: The statistician's trial-wide work: the list, the analysis, the posting and the design. None of it is about one
#: site, so these actions are also site-free (below).
STATISTICAL_WORK: frozenset[Action] = frozenset(
    {A.RANDOMIZATION_LIST, A.RANDOMIZATION_MANAGE, A.ANALYSIS_RUN, A.RESULTS_POST, A.DESIGN_SIMULATE}
)
PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(
        {A.USER_MANAGE, A.SITE_ACTIVATE, A.PROTOCOL_LOAD, A.CTCAE_LOAD, A.AUDIT_VIEW, A.SITE_VIEW, A.DASHBOARD_VIEW}
    ),
    Role.SPONSOR: frozenset(
        {A.SITE_VIEW, A.DASHBOARD_VIEW, A.DESIGN_SIMULATE, A.RESULTS_APPROVE, A.TRIAL_DECIDE, A.MONITORING_VIEW}
    ),
    Role.INVESTIGATOR: frozenset(
        {
            A.SITE_VIEW,
            A.DASHBOARD_VIEW,
            A.SUBJECT_VIEW,
            A.SCREEN,
            A.RANDOMIZE,
            A.DATA_ENTER,
            A.QUERY_ANSWER,
            A.CASEBOOK_SIGN,
            A.DEVIATION_RECORD,
        }
    ),
    Role.COORDINATOR: frozenset(
        {
            A.SITE_VIEW,
            A.DASHBOARD_VIEW,
            A.SUBJECT_VIEW,
            A.SCREEN,
            A.RANDOMIZE,
            A.DATA_ENTER,
            A.QUERY_ANSWER,
            A.DEVIATION_RECORD,
        }
    ),
    # Site staff record the deviations they find themselves (ICH E6(R3) 2.5: the investigator documents and
    # explains any deviation); only the monitor verifies source data, closes a deviation and reads the KRIs.
    Role.MONITOR: frozenset(
        {
            A.SITE_VIEW,
            A.DASHBOARD_VIEW,
            A.SUBJECT_VIEW,
            A.QUERY_RAISE,
            A.QUERY_CLOSE,
            A.AUDIT_VIEW,
            A.SDV_MARK,
            A.DEVIATION_RECORD,
            A.DEVIATION_CLOSE,
            A.MONITORING_VIEW,
        }
    ),
    Role.STATISTICIAN: frozenset({A.SITE_VIEW, A.DASHBOARD_VIEW, A.TRIAL_DECIDE}) | STATISTICAL_WORK,
}

#: Actions that are not about one site: the role alone decides.
SITE_FREE: frozenset[Action] = (
    frozenset({A.USER_MANAGE, A.PROTOCOL_LOAD, A.CTCAE_LOAD, A.DASHBOARD_VIEW, A.RESULTS_APPROVE, A.TRIAL_DECIDE})
    | STATISTICAL_WORK
)

#: Actions whose refusal must not reveal that the thing exists (answered as "not found").
HIDE_EXISTENCE: frozenset[Action] = frozenset(
    {A.SUBJECT_VIEW, A.DATA_ENTER, A.QUERY_ANSWER, A.QUERY_RAISE, A.QUERY_CLOSE, A.CASEBOOK_SIGN, A.RANDOMIZE}
    | {A.SDV_MARK, A.DEVIATION_RECORD, A.DEVIATION_CLOSE}
)


@dataclass(frozen=True)
class Grant:
    """A role at some sites (``sites=None``: at all sites)."""

    role: Role
    sites: frozenset[str] | None = None

    def covers(self, site: str | None) -> bool:
        return self.sites is None or (site is not None and site in self.sites)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, as the service layer sees it."""

    username: str
    grants: tuple[Grant, ...] = ()
    user_id: int | None = None
    via: str = "session"  # session | token | cli

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(g.role for g in self.grants)

    def can(self, action: Action, site: str | None = None) -> bool:
        for grant in self.grants:
            if action in PERMISSIONS[grant.role] and (action in SITE_FREE or grant.covers(site)):
                return True
        return False

    def sites_for(self, action: Action) -> frozenset[str] | None:
        """Sites where the action is allowed; ``None`` means every site."""
        sites: set[str] = set()
        for grant in self.grants:
            if action in PERMISSIONS[grant.role]:
                if grant.sites is None:
                    return None
                sites |= grant.sites
        return frozenset(sites)

    @property
    def role_summary(self) -> str:
        parts = []
        for grant in self.grants:
            where = "all sites" if grant.sites is None else ", ".join(sorted(grant.sites))
            parts.append(f"{grant.role.value} ({where})")
        return "; ".join(parts) or "no roles"


SYSTEM = Principal("system", tuple(Grant(role) for role in Role), via="cli")


@dataclass
class Denial(PermissionDenied):
    """Raised by :func:`require`; the unit of work audits it after rolling back."""

    principal: Principal
    action: Action
    site: str | None = None
    hide: bool = False
    #: What a hidden refusal answers: the same words as the absence of the thing, so the two cannot be told apart.
    not_found: str = "not found"
    message: str = field(init=False, default="")

    def __post_init__(self) -> None:
        where = f" at site {self.site}" if self.site else ""
        self.message = f"{self.principal.username} may not {self.action.value}{where}"
        super().__init__(self.message)

    @property
    def status_code(self) -> int:  # type: ignore[override]
        return 404 if self.hide else 403

    def to_dict(self) -> dict[str, Any]:
        if self.hide:
            return {"error": "NotFound", "message": self.not_found}
        return super().to_dict()


def require(
    principal: Principal,
    action: Action,
    site: str | None = None,
    *,
    hide: bool | None = None,
    not_found: str = "not found",
) -> None:
    """Raise :class:`Denial` unless the principal may do ``action`` at ``site``. A hidden refusal answers
    ``not_found``: pass the message the caller would get if the thing did not exist."""
    if not principal.can(action, site):
        raise Denial(
            principal, action, site, hide=(action in HIDE_EXISTENCE) if hide is None else hide, not_found=not_found
        )


def permission_table() -> list[dict[str, Any]]:
    """The matrix as rows, for docs and the admin page."""
    rows = []
    for action in Action:
        row: dict[str, Any] = {"action": action.value, "scope": "trial" if action in SITE_FREE else "site"}
        for role in Role:
            row[role.value] = action in PERMISSIONS[role]
        rows.append(row)
    return rows


@dataclass(frozen=True)
class SecurityPolicy:
    """Account and session rules (one home; overridable by bootstrap settings)."""

    min_password_length: int = 12
    lockout_threshold: int = 5
    lockout_minutes: int = 15
    session_idle_minutes: int = 30


POLICY = SecurityPolicy()


def check_password_strength(password: str, policy: SecurityPolicy = POLICY) -> None:
    from trialdesk.domain.errors import InvalidInput

    if len(password) < policy.min_password_length:
        raise InvalidInput(f"must be at least {policy.min_password_length} characters", field="password")
    if password.strip() != password or not password.strip():
        raise InvalidInput("must not start or end with spaces", field="password")
