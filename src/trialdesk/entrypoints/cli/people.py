"""CLI: users, API tokens, site activation.

Commands run by an operator with direct database access act as the local ``system`` principal (like a
framework's management command) and are audited as ``cli:<os user>``. Commands that need a trial role take
``--as USER`` and a password (``$TRIALDESK_PASSWORD`` or a prompt), or ``$TRIALDESK_TOKEN``.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from trialdesk.entrypoints.cli.common import DEFAULT_NCT, Db, JsonFlag, Trial, app_for, cli_errors, console, print_json

if TYPE_CHECKING:
    from trialdesk.bootstrap import App
    from trialdesk.domain.access import Principal

T = TypeVar("T")

users_app = typer.Typer(help="User accounts and roles.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens (shown once, stored hashed).", no_args_is_help=True)
sites_app = typer.Typer(help="Sites and their activation.", no_args_is_help=True)


def operator() -> Principal:
    """The local operator: the ``system`` principal, audited as ``cli:<os user>``."""
    from dataclasses import replace

    from trialdesk.domain.access import SYSTEM

    try:
        who = getpass.getuser()
    except Exception:  # pragma: no cover
        who = "operator"
    return replace(SYSTEM, username=f"cli:{who}")


def resolve_principal(app: App, as_user: str | None) -> Principal:
    """The CLI caller: ``--as USER`` (password from $TRIALDESK_PASSWORD or a prompt), $TRIALDESK_TOKEN, or the
    local operator when neither is given."""
    from trialdesk.services import accounts
    from trialdesk.settings import get_settings

    settings = get_settings()
    token = settings.token
    if as_user:
        password = settings.password or typer.prompt(f"password for {as_user}", hide_input=True)
        with app.uow(as_user) as uow:
            result = accounts.login(uow, as_user, password)
        with app.uow(as_user) as uow:
            accounts.logout(uow, result.session_token)
        accounts.refuse_one_time(result.must_change_password)  # a one-time password only changes itself
        return result.principal
    if token:
        with app.uow() as uow:
            return accounts.authenticate_token(uow, token)
    return operator()


def _as_operator(db: str | None, fn: Callable[[Any, Principal], T]) -> T:
    """Run ``fn(uow, operator)`` in one committed unit of work as the local operator: the account, token and site
    status commands administer the database from the machine itself, so they never ask who is calling."""
    app = app_for(db)
    actor = operator()
    with app.uow(actor.username) as uow:
        out = fn(uow, actor)
        uow.commit()
    return out


def _grants(roles: list[str], sites: list[str]) -> list[tuple[str, list[str] | None]]:
    return [(role, list(sites) or None) for role in roles]


@users_app.command("create-admin")
def users_create_admin(username: str = typer.Option("admin"), db: Db = None) -> None:
    """On a fresh database, create the first admin and print a one-time password (change it at first login)."""
    from trialdesk.services import accounts

    with cli_errors():
        name, password = _as_operator(db, lambda uow, _: accounts.create_first_admin(uow, username))
    console.print(f"admin user [bold]{name}[/] created. One-time password (shown once): [bold]{password}[/]")


@users_app.command("add")
def users_add(
    username: str = typer.Option(..., "--username"),
    role: list[str] = typer.Option(
        ..., "--role", help="admin, sponsor, investigator, coordinator, monitor or statistician; repeatable."
    ),
    site: list[str] = typer.Option([], "--site", help="Site id; repeatable. None: all sites."),
    display_name: str | None = typer.Option(None, "--name"),
    db: Db = None,
) -> None:
    """Add a user with roles scoped to sites (or all sites); prints a one-time password."""
    from trialdesk.services import accounts

    with cli_errors():
        password = _as_operator(
            db, lambda uow, a: accounts.add_user(uow, a, username, _grants(role, site), display_name=display_name)
        )
    console.print(f"user [bold]{username}[/] created. One-time password (shown once): [bold]{password}[/]")


@users_app.command("list")
def users_list(as_json: JsonFlag = False, db: Db = None) -> None:
    """List users with their roles and sites."""
    from trialdesk.services import accounts

    with cli_errors():
        app = app_for(db)
        with app.uow() as uow:
            rows = accounts.list_users(uow, operator())
    if as_json:
        print_json(rows)
        return
    for r in rows:
        state = "active" if r["active"] else "disabled"
        console.print(f"{r['username']:<20} {state:<9} {r['roles']}", highlight=False, markup=False)


@users_app.command("disable")
def users_disable(username: str, reason: str = typer.Option(..., "--reason"), db: Db = None) -> None:
    """Disable a user: ends their sessions and revokes their tokens."""
    from trialdesk.services import accounts

    with cli_errors():
        _as_operator(db, lambda uow, a: accounts.disable_user(uow, a, username, reason))
    console.print(f"{username} disabled")


@users_app.command("reset-password")
def users_reset_password(username: str, db: Db = None) -> None:
    """Set a new one-time password (printed once) and unlock the account."""
    from trialdesk.services import accounts

    with cli_errors():
        password = _as_operator(db, lambda uow, a: accounts.reset_password(uow, a, username))
    console.print(f"new one-time password for {username} (shown once): [bold]{password}[/]")


@users_app.command("permissions")
def users_permissions(markdown: bool = typer.Option(False, "--markdown")) -> None:
    """Print the role x action permission matrix."""
    from trialdesk.domain.access import Role, permission_table

    rows = permission_table()
    roles = [r.value for r in Role]
    if markdown:
        typer.echo("| action | scope | " + " | ".join(roles) + " |")
        typer.echo("|---|---|" + "---|" * len(roles))
        for row in rows:
            typer.echo(
                f"| `{row['action']}` | {row['scope']} | " + " | ".join("yes" if row[r] else "" for r in roles) + " |"
            )
        return
    print_json(rows)


@tokens_app.command("create")
def tokens_create(
    user: str = typer.Option(..., "--user"), name: str | None = typer.Option(None, "--name"), db: Db = None
) -> None:
    """Create an API token for USER; it authenticates /api/v1 with 'Authorization: Bearer'. Shown once."""
    from trialdesk.services import accounts

    with cli_errors():
        token = _as_operator(db, lambda uow, a: accounts.create_token(uow, a, user, name))
    typer.echo(token)


@tokens_app.command("list")
def tokens_list(user: str | None = typer.Option(None, "--user"), db: Db = None) -> None:
    from trialdesk.services import accounts

    with cli_errors():
        app = app_for(db)
        with app.uow() as uow:
            print_json(accounts.list_tokens(uow, operator(), user))


@tokens_app.command("revoke")
def tokens_revoke(token_id: int, db: Db = None) -> None:
    from trialdesk.services import accounts

    with cli_errors():
        _as_operator(db, lambda uow, a: accounts.revoke_token(uow, a, token_id))
    console.print(f"token {token_id} revoked")


@sites_app.command("list")
def sites_list(nct_id: Trial = DEFAULT_NCT, as_json: JsonFlag = False, db: Db = None) -> None:
    from trialdesk.services import sites

    with cli_errors():
        app = app_for(db)
        with app.uow() as uow:
            rows = sites.list_sites(uow, operator(), nct_id)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        console.print(f"{r['site']:<55} {r['status'] or '-':<20} {r['city']}", highlight=False, markup=False)


@sites_app.command("set-status")
def sites_set_status(
    site: str, status: str, reason: str = typer.Option(..., "--reason"), nct_id: Trial = DEFAULT_NCT, db: Db = None
) -> None:
    """Move a site through NOT_YET_RECRUITING -> RECRUITING -> (SUSPENDED <-> RECRUITING) -> CLOSED."""
    from trialdesk.services import sites
    from trialdesk.services.commands import ChangeSiteStatus

    with cli_errors():
        command = ChangeSiteStatus.model_validate({"status": status.upper(), "reason": reason})
        row = _as_operator(db, lambda uow, a: sites.change_site_status(uow, a, nct_id, site, command))
    console.print(f"{row['site']}: {row['status']}")
