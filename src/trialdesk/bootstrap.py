"""Wiring: real adapters for the app, the CLI and tests.

``bootstrap(url)`` returns an :class:`App` holding the engine, the session factory, the clock, the settings and the
ports (password hashing, secret stores, results, ...), and hands out units of work that carry them. Nothing else
creates engines. Importing this module maps the domain records onto the tables (``adapters.db.tables``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from trialdesk.adapters.db import tables as _tables  # noqa: F401  (maps the domain records)
from trialdesk.adapters.db.engine import make_engine, resolve_url
from trialdesk.adapters.db.lengths import install_length_checks
from trialdesk.adapters.db.migrate import upgrade
from trialdesk.adapters.db.uow import SqlUnitOfWork
from trialdesk.services.ports import Ports
from trialdesk.services.unit_of_work import Clock, utc_now
from trialdesk.settings import Settings, get_settings


def default_ports(settings: Settings | None = None) -> Ports:
    """The production ports (``adapters/ports.real_ports``). Without settings they follow the environment at call
    time, so an app built before a test sets ``TRIALDESK_*`` variables still sees them."""
    from trialdesk.adapters.ports import real_ports

    return real_ports(settings)


@dataclass
class App:
    engine: Engine
    session_factory: sessionmaker[Session]
    clock: Clock = utc_now
    settings: Settings = field(default_factory=get_settings)
    ports: Ports = field(default_factory=default_ports)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def uow(self, actor: str = "system") -> SqlUnitOfWork:
        return SqlUnitOfWork(self.session_factory, ports=self.ports, actor=actor, clock=self.clock)

    def dispose(self) -> None:
        self.engine.dispose()


def bootstrap(
    url: str | None = None,
    *,
    migrate: bool = True,
    load_default: bool = True,
    clock: Clock = utc_now,
    pool_size: int = 10,
    settings: Settings | None = None,
    ports: Ports | None = None,
) -> App:
    """Connect, migrate to the latest schema, and load the default trial and the CTCAE dictionary if missing.

    ``settings``: fixed settings for this app (default: the environment's, read when needed); ``ports``: replace
    the real adapters (tests)."""
    engine = make_engine(resolve_url(url, settings), pool_size=pool_size)
    session_factory = sessionmaker(bind=engine, expire_on_commit=False)
    install_length_checks(session_factory)  # String(n) lengths refused before the database (InvalidInput)
    app = App(
        engine=engine,
        session_factory=session_factory,
        clock=clock,
        settings=settings if settings is not None else get_settings(),
        ports=ports if ports is not None else default_ports(settings),
    )
    if migrate:
        upgrade(engine)
    if clock is utc_now:  # an injected clock (tests, simulations) wins over the database's
        app.clock = database_clock(app, required=migrate)
    if load_default:
        ensure_default_trial(app)
        ensure_ctcae(app)
    return app


def ensure_ctcae(app: App) -> dict[str, Any]:
    """Load the CTCAE dictionary on first start (the one shipped with the package, or ``$TRIALDESK_CTCAE_XLSX``),
    or swap in a newly configured workbook; audited. Logged (``trialdesk.ctcae``): a first load as info, a swap of
    the configured workbook, or its refusal, as a warning (on stderr even where logging is not configured)."""
    import logging

    from trialdesk.services import ctcae

    with app.uow("system") as uow:
        outcome = ctcae.ensure_loaded(uow)
        uow.commit()
    if outcome["status"] != "kept":
        level = logging.INFO if outcome["status"] == "loaded" else logging.WARNING
        logging.getLogger("trialdesk.ctcae").log(level, "trialdesk: %s", outcome["message"])
    return outcome


def database_clock(app: App, *, required: bool = True) -> Clock:
    """The trial clock of ``app``'s database (``services/trial_clock.py``): the real clock, or the simulated one a
    demo left behind. ``required=False``: a database without the schema yet runs on the real clock."""
    from sqlalchemy.exc import SQLAlchemyError

    from trialdesk.services.trial_clock import trial_clock

    try:
        return trial_clock(app.uow)
    except SQLAlchemyError:
        if required:
            raise
        return utc_now


def ensure_default_trial(app: App, *, dated_at_start: bool = False) -> None:
    """Load the default trial on first start.

    ``dated_at_start``: date the load at the trial's registry start date, for the demo, whose simulated clock
    begins there. The audit trail's timestamps never run backwards, so a load dated today would date every
    simulated event before today as today."""
    from trialdesk.adapters.protocol_files import default_trial_id, load_default_protocol
    from trialdesk.services import registry

    protocol = load_default_protocol()
    clock = app.clock
    start = protocol.registry.status.start_date
    if dated_at_start and start is not None:
        moment = dt.datetime.combine(start.as_date(), dt.time(), tzinfo=dt.UTC)
        app.clock = lambda: moment
    try:
        with app.uow("system") as uow:
            if uow.trials.get(default_trial_id()) is None:
                registry.save_protocol(uow, protocol, reason="default trial loaded at first start")
                uow.commit()
    finally:
        app.clock = clock
