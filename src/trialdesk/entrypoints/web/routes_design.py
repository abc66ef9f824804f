"""Design simulation: API endpoints and the statistician's page (power against HR, analysis-time distribution)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from trialdesk.entrypoints.web.auth import ApiUser, PageUser
from trialdesk.entrypoints.web.deps import AppDep, PagePrincipalDep, PrincipalDep, TrialDep, UowDep
from trialdesk.entrypoints.web.forms import CHECK_FIELDS, FormInvalid, FormState, validate
from trialdesk.entrypoints.web.templating import ctx, templates
from trialdesk.services import design as design_service
from trialdesk.stats.simulation_results import DEFAULT_SEED

if TYPE_CHECKING:
    from matplotlib.figure import Figure  # the figures are drawn only when the page is asked for

api = APIRouter(prefix="/api/v1", dependencies=[ApiUser], tags=["design"])
pages = APIRouter(dependencies=[PageUser])


class SimulationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trials: int = Field(design_service.WEB_DEFAULT_TRIALS, ge=100, le=design_service.MAX_WEB_TRIALS)
    hr: float | None = Field(None, gt=0.05, le=5, description="Hazard ratio to simulate (default: the design's)")
    seed: int = Field(DEFAULT_SEED, ge=0)


@api.get("/trials/{nct_id}/design")
def closed_form(
    nct_id: str,
    p: PrincipalDep,
    uow: UowDep,
    hr: float | None = Query(None, gt=0.05, le=5, description="Hazard ratio (default: the design's)"),
) -> dict[str, Any]:
    """Closed-form events, power and expected analysis times of the protocol's design."""
    return design_service.closed_form(uow, p, nct_id, hr)


@api.post("/trials/{nct_id}/design/simulations")
def simulate(nct_id: str, body: SimulationRequest, p: PrincipalDep, td: AppDep) -> dict[str, Any]:
    """Monte Carlo simulation of the whole trial (accrual, event-driven looks, stratified log-rank, boundaries)."""
    # a transaction of its own, closed before the (long) simulation
    with td.uow(p.username) as uow:
        design = design_service.design_of(uow, p, nct_id)
    result = design_service.simulate_design(design, trials=body.trials, hazard_ratio=body.hr, seed=body.seed)
    out: dict[str, Any] = result.model_dump(mode="json")
    return out


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})  # no render timestamp in the page
    text = buffer.getvalue()
    return text[text.find("<svg") :]


class DesignPageForm(BaseModel):
    """The design page's inputs (a GET form): the number of trials is clamped to the page's range afterwards."""

    model_config = ConfigDict(extra="ignore")
    trials: int = design_service.WEB_DEFAULT_TRIALS
    hr: float | None = Field(None, gt=0.05, le=5)
    seed: int = Field(DEFAULT_SEED, ge=0, le=2**32 - 1)


@pages.get("/ops/design", response_class=HTMLResponse, include_in_schema=False)
def design_page(request: Request, p: PagePrincipalDep, td: AppDep, nct_id: TrialDep) -> HTMLResponse:
    """The design's closed form and simulations; a value the form refuses comes back (422) in its input with the
    message beside it, nothing simulated."""
    from trialdesk.adapters.design_figures import analysis_time_figure, power_curve_figure
    from trialdesk.adapters.figures import figure_fonts
    from trialdesk.entrypoints.web.templating import figure_text

    typed = {k: request.query_params.get(k, "") for k in ("trials", "hr", "seed")}
    try:
        form = validate(DesignPageForm, {k: v for k, v in typed.items() if v.strip()})  # empty: the default
    except FormInvalid as exc:
        with td.uow(p.username) as uow:  # the permission to see the design, as for a good request
            design_service.design_of(uow, p, nct_id)
        state = FormState("design-form", typed, exc.errors, CHECK_FIELDS)
        return templates.TemplateResponse(request, "design.html", ctx(request, state=state), status_code=422)
    trials, hr, seed = form.trials, form.hr, form.seed
    with td.uow(p.username) as uow:  # closed before the (long) simulations
        design = design_service.design_of(uow, p, nct_id)
        report = design_service.closed_form(uow, p, nct_id, hr)
    trials = max(100, min(trials, design_service.MAX_WEB_TRIALS))
    result = design_service.simulate_design(design, trials=trials, hazard_ratio=hr, seed=seed)
    planned = design.planning_hazard_ratio or 0.7
    points = {
        h: design_service.simulate_design(design, trials=min(trials, 1000), hazard_ratio=h, seed=seed)
        for h in sorted({round(planned, 2), 0.6, 0.8, 1.0})
    }
    expected = [look["expected_time_months"] for look in report["looks"] if look.get("expected_time_months")]
    text, cjk = figure_text()
    with figure_fonts(cjk):  # the figures' words in the page's language when a CJK font is installed
        power_svg = _svg(power_curve_figure(design, simulated=points, text=text))
        time_svg = _svg(analysis_time_figure(result, expected, text=text))
    return templates.TemplateResponse(
        request,
        "design.html",
        ctx(
            request,
            report=report,
            result=result.model_dump(mode="json"),
            trials=trials,
            hr=hr,
            seed=seed,
            power_svg=power_svg,
            time_svg=time_svg,
            state=None,
        ),
    )
