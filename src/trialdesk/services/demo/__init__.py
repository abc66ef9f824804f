"""The demo: a whole trial in motion, driven through the service layer.

``run_demo`` activates sites over time, screens simulated patients (synthetic screening records, about a third
failing real criteria), randomizes the eligible ones through the IWRS, records doses on the calendar (with delays,
reductions and reloads), adverse events by arm, tumour assessments whose RECIST progression follows each arm's
PFS distribution, deaths, withdrawals and new anticancer therapy; monitors raise queries that sites answer, and
investigators sign casebooks. Every change goes through the same services the web and API use, as the user who
would make it, on a simulated clock, so the audit trail is the real one. It is deterministic for a seed.
"""

from trialdesk.services.demo.runner import DemoRunner, run_demo
from trialdesk.services.demo.scenario import (
    DEMO_PASSWORD_SUFFIX,
    DemoReport,
    SimClock,
    demo_password,
    demo_users,
    load_scenario,
)

__all__ = [
    "DEMO_PASSWORD_SUFFIX",
    "DemoReport",
    "DemoRunner",
    "SimClock",
    "demo_password",
    "demo_users",
    "load_scenario",
    "run_demo",
]
