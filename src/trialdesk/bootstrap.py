"""Wiring: real adapters for the app, the CLI and tests.

``bootstrap(url)`` returns an :class:`App` holding the engine, the session factory and the clock, and can hand
out units of work. Nothing else creates engines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from trialdesk.adapters.db.engine import make_engine, resolve_url
from trialdesk.adapters.db.migrate import upgrade
from trialdesk.adapters.db.uow import SqlUnitOfWork
from trialdesk.services.unit_of_work import Clock, utc_now


@dataclass
class App:
    engine: Engine
    session_factory: sessionmaker
    clock: Clock = utc_now
    settings: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def uow(self, actor: str = "system") -> SqlUnitOfWork:
        return SqlUnitOfWork(self.session_factory, actor=actor, clock=self.clock)

    def dispose(self) -> None:
        self.engine.dispose()


def bootstrap(url: str | None = None, *, migrate: bool = True, load_default: bool = True, clock: Clock = utc_now,
              pool_size: int = 10) -> App:
    """Connect, migrate to the latest schema, and load the default trial (NCT07003074) if it is missing."""
    engine = make_engine(resolve_url(url), pool_size=pool_size)
    app = App(engine=engine, session_factory=sessionmaker(bind=engine, expire_on_commit=False), clock=clock)
    if migrate:
        upgrade(engine)
    if load_default:
        ensure_default_trial(app)
    return app


def ensure_default_trial(app: App) -> None:
    from trialdesk.adapters.protocol_files import default_trial_id, load_default_protocol
    from trialdesk.services import registry

    with app.uow("system") as uow:
        if uow.trials.get(default_trial_id()) is None:
            registry.save_protocol(uow, load_default_protocol(), reason="default trial loaded at first start")
            uow.commit()
