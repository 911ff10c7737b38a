"""The ``restate-versioning`` command line: a thin shell over the library.

The registry is kept in a SQLite file (``--store``, default ``restate-versioning.db`` in the
working directory), or read, read-only, from a live cluster's admin API (``--admin-url``). The
tables are :mod:`restate_versioning.views`' ``render_*`` text; ``--json`` prints the same rows
as JSON instead.

Exit codes: ``0`` done; ``1`` the library refused or could not do it (a
:class:`~restate_versioning.VersioningError` or an ``OSError``: one ``error: ...`` line on
stderr); ``2`` bad usage (click's usage errors, a malformed deployment id, a write with
``--admin-url``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import attrs
import click

from . import views
from .errors import RemovalBlocked, VersioningError
from .ids import parse_deployment_id
from .manifest import EndpointManifest
from .model import Invocation, Registration
from .registry import Registry
from .rules.removal import RemovalPlan
from .serialization import make_converter
from .storage import SQLiteStorage, StoredRegistry

__all__ = ["DEFAULT_STORE", "cli", "main"]

#: Where the registry is kept unless ``--store`` says otherwise.
DEFAULT_STORE = "restate-versioning.db"

_CONVERTER = make_converter()


@attrs.define
class _Options:
    store: Path
    admin_url: str | None
    stored: StoredRegistry | None = None


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(1)


class _Group(click.Group):
    """Turns the library's refusals into one ``error: ...`` line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RemovalBlocked as exc:
            click.echo(views.render_removal_plan(exc.plan))
            _fail(
                f"removing deployment {exc.plan.deployment_id!r} is not safe; "
                f"use --force to remove it anyway"
            )
        except VersioningError as exc:
            _fail(str(exc))
        except OSError as exc:
            _fail(str(exc))


# --- plumbing -----------------------------------------------------------------------------


def _registry(ctx: click.Context) -> Registry:
    """The registry to read: the live cluster, the store, or an empty one if there is no store
    yet (reading creates no file)."""
    options: _Options = ctx.find_object(_Options)  # type: ignore[assignment]
    if options.admin_url is not None:
        try:
            from .admin import AdminSource
        except ImportError:  # pragma: no cover - httpx is a dev dependency
            _fail("--admin-url needs httpx: pip install 'restate-versioning[admin]'")
        try:
            source = AdminSource(options.admin_url)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--admin-url'") from None
        return source.load()
    if options.stored is None and not options.store.exists():
        return Registry()
    return _stored(ctx).registry


def _stored(ctx: click.Context) -> StoredRegistry:
    """The store, for a command that changes it; a usage error with ``--admin-url``."""
    options: _Options = ctx.find_object(_Options)  # type: ignore[assignment]
    if options.admin_url is not None:
        raise click.UsageError(
            f"{ctx.command_path} changes the registry; --admin-url is read-only", ctx
        )
    if options.stored is None:
        options.stored = ctx.with_resource(StoredRegistry(SQLiteStorage(options.store)))
    return options.stored


def _deployment_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        parse_deployment_id(value)
    except VersioningError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    return value


def _json(value: Any) -> None:
    click.echo(json.dumps(_CONVERTER.unstructure(value), indent=2))


def _plan_json(plan: RemovalPlan) -> dict[str, Any]:
    data: dict[str, Any] = _CONVERTER.unstructure(plan)
    data["safe"] = plan.safe
    return data


def _registration(result: Registration) -> str:
    deployment = result.deployment
    verb = f"would be {result.outcome.value}" if result.dry_run else result.outcome.value
    lines = [f"{deployment.id} {verb}: {deployment.endpoint}"]
    for change in result.changes:
        old = "-" if change.old_revision is None else str(change.old_revision)
        new = "-" if change.new_revision is None else str(change.new_revision)
        lines.append(f"  {change.name}: revision {old} -> {new}")
    for check in result.state_checks:
        lines.append(f"  {check}")
    if result.dry_run:
        lines.append("(dry run: nothing was stored)")
    return "\n".join(lines)


def _state_file(ctx: click.Context, path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        state = json.loads(path.read_bytes())
    except ValueError as exc:
        raise click.BadParameter(f"{str(path)!r} is not JSON: {exc}", ctx) from None
    if not isinstance(state, dict):
        raise click.BadParameter(
            f"{str(path)!r} must hold a JSON object of services, not {state!r}", ctx
        )
    return state


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
deployment_id_argument = click.argument("deployment_id", metavar="ID", callback=_deployment_id)


# --- the commands -------------------------------------------------------------------------


@click.group(cls=_Group)
@click.option(
    "--store",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_STORE,
    show_default=True,
    help="The SQLite file the registry is kept in.",
)
@click.option(
    "--admin-url",
    metavar="URL",
    help="Read a live cluster's admin API (http://host:9070) instead; read-only.",
)
@click.version_option(package_name="restate-versioning")
@click.pass_context
def cli(ctx: click.Context, store: Path, admin_url: str | None) -> None:
    """Restate's versioning rules: deployments, revisions, draining and safe removal."""
    ctx.obj = _Options(store, admin_url)


@cli.group()
def services() -> None:
    """Services and their latest revisions."""


@cli.group()
def deployments() -> None:
    """Deployments: register, describe, plan a removal, remove, promote."""


@services.command("list")
@json_option
@click.pass_context
def services_list(ctx: click.Context, as_json: bool) -> None:
    """The latest revision of every service (`restate services list`)."""
    rows = views.services_list(_registry(ctx))
    if as_json:
        _json(rows)
    else:
        click.echo(views.render_services_list(rows))


@services.command("status")
@click.argument("service", required=False)
@json_option
@click.pass_context
def services_status(ctx: click.Context, service: str | None, as_json: bool) -> None:
    """Uncompleted invocations per handler, and locked keys (`restate services status`)."""
    registry = _registry(ctx)
    rows = views.services_status(registry, service)
    keys = views.active_keys(registry, service)
    if as_json:
        _json({"handlers": rows, "active_keys": keys})
        return
    click.echo(views.render_services_status(rows))
    if keys:
        click.echo(views.render_active_keys(keys))


@services.command("set-public")
@click.argument("name")
@click.argument("public", metavar="true|false", type=click.BOOL)
@click.pass_context
def services_set_public(ctx: click.Context, name: str, public: bool) -> None:
    """Make a service's latest revision public or private."""
    revision = _stored(ctx).set_public(name, public)
    visibility = "public" if revision.public else "private"
    click.echo(f"{revision.name} revision {revision.revision} is now {visibility}")


@deployments.command("list")
@json_option
@click.pass_context
def deployments_list(ctx: click.Context, as_json: bool) -> None:
    """Every deployment with its status (`restate deployments list --extra`)."""
    rows = views.deployments_list(_registry(ctx))
    if as_json:
        _json(rows)
    else:
        click.echo(views.render_deployments_list(rows))


@deployments.command("describe")
@deployment_id_argument
@json_option
@click.pass_context
def deployments_describe(ctx: click.Context, deployment_id: str, as_json: bool) -> None:
    """One deployment in detail (`restate deployments describe`)."""
    description = views.describe_deployment(_registry(ctx), deployment_id)
    if as_json:
        _json(description)
    else:
        click.echo(views.render_deployment_description(description))


@deployments.command("register")
@click.argument("endpoint")
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Register this discovery JSON instead of asking the endpoint.",
)
@click.option("--force", is_flag=True, help="Overwrite an already registered endpoint.")
@click.option("--breaking", is_flag=True, help="Accept breaking changes.")
@click.option("--dry-run", is_flag=True, help="Check and show the result; store nothing.")
@click.option(
    "--state",
    "state_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='State declarations, as JSON: {"Service": {"state key": JSON Schema}}.',
)
@click.pass_context
def deployments_register(
    ctx: click.Context,
    endpoint: str,
    manifest: Path | None,
    force: bool,
    breaking: bool,
    dry_run: bool,
    state_file: Path | None,
) -> None:
    """Register ENDPOINT: discovered over HTTP, or from --manifest FILE.

    A new revision that cannot read the state the revisions before it may have written is
    refused (exit 1) unless --breaking or --force."""
    state = _state_file(ctx, state_file)
    stored = _stored(ctx)
    if manifest is not None:
        result = stored.register(
            endpoint,
            EndpointManifest.from_json(manifest.read_bytes()),
            force=force,
            breaking=breaking,
            dry_run=dry_run,
            state=state,
        )
    else:
        try:
            from .transport import HttpTransport, register_endpoint
        except ImportError:  # pragma: no cover - httpx is a dev dependency
            _fail("discovery needs httpx: pip install 'restate-versioning[http]'")
        result = register_endpoint(
            stored,
            endpoint,
            HttpTransport(),
            force=force,
            breaking=breaking,
            dry_run=dry_run,
            state=state,
        )
    click.echo(_registration(result))


@deployments.command("plan-removal")
@deployment_id_argument
@json_option
@click.pass_context
def deployments_plan_removal(ctx: click.Context, deployment_id: str, as_json: bool) -> None:
    """Whether removing a deployment now is safe, why not, and what it would do."""
    plan = _registry(ctx).removal_plan(deployment_id)
    if as_json:
        click.echo(json.dumps(_plan_json(plan), indent=2))
    else:
        click.echo(views.render_removal_plan(plan))


@deployments.command("remove")
@deployment_id_argument
@click.option("--force", is_flag=True, help="Remove it even if the plan says it is not safe.")
@click.pass_context
def deployments_remove(ctx: click.Context, deployment_id: str, force: bool) -> None:
    """Remove a deployment; refused (exit 1) unless it is safe or --force is given."""
    removal = _stored(ctx).remove(deployment_id, force=force)
    click.echo(f"removed {removal.deployment.id}" + (" (forced)" if removal.forced else ""))
    for blocker in removal.overridden:
        click.echo(f"  overridden {blocker.kind.value}: {blocker.message}")
    for effect in removal.effects:
        click.echo(f"  {effect}")


@deployments.command("drained")
@json_option
@click.pass_context
def deployments_drained(ctx: click.Context, as_json: bool) -> None:
    """The removal plans of every deployment that is safe to remove now."""
    plans: Sequence[RemovalPlan] = _registry(ctx).drained()
    if as_json:
        click.echo(json.dumps([_plan_json(p) for p in plans], indent=2))
    elif not plans:
        click.echo("No deployment is safe to remove now.")
    else:
        click.echo("\n\n".join(views.render_removal_plan(p) for p in plans))


@deployments.command("promote")
@deployment_id_argument
@click.option("--breaking", is_flag=True, help="Promote even if it cannot read the state.")
@click.pass_context
def deployments_promote(ctx: click.Context, deployment_id: str, breaking: bool) -> None:
    """Make a deployment's services the latest again (an instant rollback); refused (exit 1)
    if one of them cannot read the state newer revisions may have written, unless --breaking."""
    click.echo(_registration(_stored(ctx).promote(deployment_id, breaking=breaking)))


@cli.group()
def invocations() -> None:
    """Invocations: call a handler, and move a call through its statuses."""


def _invocation_line(invocation: Invocation) -> str:
    where = invocation.pinned_deployment_id or "-"
    key = f"/{invocation.key}" if invocation.key is not None else ""
    return (
        f"{invocation.id}  {invocation.service}{key}/{invocation.handler}  "
        f"{invocation.status.value}  {where}"
    )


@invocations.command("invoke")
@click.argument("service")
@click.argument("handler")
@click.option("--key", help="The key of a Virtual Object or Workflow.")
@click.option(
    "--caller", metavar="SERVICE/HANDLER", help="Call from this handler, not the ingress."
)
@click.option("--delay", type=click.FloatRange(min=0), help="Start after this many seconds.")
@click.pass_context
def invocations_invoke(
    ctx: click.Context,
    service: str,
    handler: str,
    key: str | None,
    caller: str | None,
    delay: float | None,
) -> None:
    """Call SERVICE/HANDLER, routed to its latest revision."""
    invocation = _stored(ctx).invoke(
        service,
        handler,
        key=key,
        caller=caller,
        delay=timedelta(seconds=delay) if delay is not None else None,
    )
    click.echo(_invocation_line(invocation))


def _invocation_command(name: str, doc: str) -> None:
    @invocations.command(name, help=doc)
    @click.argument("invocation_id", metavar="ID")
    @click.pass_context
    def command(ctx: click.Context, invocation_id: str) -> None:
        click.echo(_invocation_line(getattr(_stored(ctx), name)(invocation_id)))


for _name, _doc in (
    ("suspend", "A running call suspends."),
    ("resume", "The next attempt of a suspended, paused or retrying call, where it is pinned."),
    ("complete", "A running call completes; the next call waiting on its key starts."),
    ("kill", "End a call that is not completed."),
):
    _invocation_command(_name, _doc)


@invocations.command("list")
@json_option
@click.pass_context
def invocations_list(ctx: click.Context, as_json: bool) -> None:
    """Every invocation the registry knows, oldest first."""
    found = tuple(_registry(ctx).invocations())
    if as_json:
        _json(found)
    elif found:
        click.echo(views.render_invocations(found))


@cli.command("history")
@json_option
@click.pass_context
def history(ctx: click.Context, as_json: bool) -> None:
    """What was done to the store, when, and what it did."""
    options: _Options = ctx.find_object(_Options)  # type: ignore[assignment]
    if options.admin_url is not None:
        raise click.UsageError("history is kept in a store; --admin-url has none", ctx)
    records = _stored(ctx).history() if options.store.exists() else ()
    if as_json:
        _json(records)
        return
    if records:
        click.echo(views.render_history(records))


def main() -> None:
    """The console script."""
    cli(prog_name="restate-versioning")
