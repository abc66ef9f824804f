"""``serve --demo``: fill an empty database with a simulated trial before serving."""

from __future__ import annotations


def ensure_demo(td) -> None:
    try:
        from trialdesk.services.demo import ensure_demo_data
    except ImportError:  # the demo generator arrives with the operations modules
        return
    ensure_demo_data(td)
