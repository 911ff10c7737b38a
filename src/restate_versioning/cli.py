"""The ``restate-versioning`` command line: a thin shell over the library.

The registry is kept in a SQLite file (``--store``, default ``restate-versioning.db`` in the
working directory), or is a live cluster's, through its admin API (``--admin-url``): every
read verb reads it, and ``deployments register``, ``remove``, ``prune``, ``wait-drained``,
``services set-public`` and ``invocations resume`` act on it, each write checked by the model
first (:class:`~restate_versioning.admin.AdminClient`) and, on a terminal, confirmed first
unless ``--yes``. The tables are :mod:`restate_versioning.views`' ``render_*`` text;
``--json`` prints the same rows as JSON instead.

Exit codes, one table: ``0`` done (for ``plan-removal``: the removal is safe); ``1`` refused or
blocked: the library refused or could not do it, or ``plan-removal`` found the removal not safe
(a :class:`~restate_versioning.VersioningError`, an ``OSError``, or anything unexpected, shown
with its type: one ``error: ...`` line on stderr, never a traceback); ``2`` bad usage (click's
usage errors, a malformed deployment or invocation id, a ``--delay`` or ``--timeout`` that is
not a finite number of seconds in range, a missing file, a write with ``--admin-url`` that only
a store takes).

What the command line reads is bounded: ``--manifest FILE`` and ``--state FILE`` are read as
the server reads JSON (UTF-8, no ``NaN``, no key twice, at most 127 levels deep) and may hold at
most :data:`MAX_FILE_BYTES` (1 MiB, what discovery reads from an endpoint); ``--timeout``
(default 10 seconds) bounds discovery and each read of a live cluster's admin API. Credentials
in a URL (``http://user:secret@host/``) are never printed: every URL in what the command line
prints, on stdout or in an error, is shown by :func:`~restate_versioning.endpoints.redact`.

Refusals speak in flags and verbs: where a library message, written for Python callers, names
a Python argument (``key=``, ``breaking=True``, ``set_public(name, False)``), the command line
says its flag or verb instead (:data:`FLAG_WORDS`, :data:`BLOCKER_WORDS`), and a removal plan's
blockers name the verbs that clear them. Delayed calls start when ``invocations start-due``
runs, not by themselves (see ``invocations --help``).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import attrs
import click

from . import _json as strict_json
from . import views
from .endpoints import redact
from .errors import (
    InvalidInvocation,
    InvalidManifest,
    InvalidTransition,
    Problem,
    VersioningError,
    quote,
)
from .ids import parse_deployment_id, parse_invocation_id
from .manifest import MAX_MANIFEST_BYTES, EndpointManifest
from .model import Invocation, Outcome
from .queries import RegistryQueries
from .registry import Registry
from .rules.registration import Registration
from .rules.removal import Blocker, BlockerKind, Removal, RemovalBlocked, RemovalPlan
from .rules.state import IncompatibleState
from .serialization import make_converter
from .storage import SQLiteStorage, StoredRegistry

if TYPE_CHECKING:  # the admin extra (httpx) is imported when a cluster is acted on
    from .admin import AdminClient, DrainProgress

__all__ = [
    "BLOCKER_WORDS",
    "DEFAULT_STORE",
    "DEFAULT_TIMEOUT",
    "FLAG_WORDS",
    "MAX_FILE_BYTES",
    "cli",
    "main",
]

#: Where the registry is kept unless ``--store`` says otherwise.
DEFAULT_STORE = "restate-versioning.db"
#: How long, in seconds, discovery and a read of the admin API may take unless ``--timeout``
#: says otherwise.
DEFAULT_TIMEOUT = 10.0
#: The largest ``--manifest`` or ``--state`` file the command line reads, in bytes: the largest
#: manifest the library reads (:data:`~restate_versioning.manifest.MAX_MANIFEST_BYTES`, 1 MiB,
#: what discovery reads from an endpoint). A larger file is refused without being read whole.
MAX_FILE_BYTES = MAX_MANIFEST_BYTES

_CONVERTER = make_converter()


@attrs.define
class _Options:
    store: Path
    admin_url: str | None
    timeout: float = DEFAULT_TIMEOUT
    stored: StoredRegistry | None = None


# A URL with a scheme, up to the first blank or quote: what :func:`_scrub` hands to ``redact``.
# A scheme starts where no scheme character precedes it: a long run of letters costs one pass.
_URL = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*")
#: The URLs given on this command line, whose credentials are hidden wherever they show up.
_GIVEN: set[str] = set()


def _scrub(text: str) -> str:
    """``text`` with the credentials of every URL in it shown as ``***`` (by ``redact``): the
    URLs given on the command line wherever they appear (also quoted, whatever their
    password holds), then anything else that looks like a URL."""
    for url in sorted(_GIVEN, key=len, reverse=True):
        hidden = redact(url)
        if hidden != url:
            text = text.replace(repr(url)[1:-1], repr(hidden)[1:-1]).replace(url, hidden)
    return _URL.sub(lambda match: redact(match.group()), text)


def _given(url: str) -> str:
    """Remember ``url`` as given on the command line, so that its credentials never show."""
    _GIVEN.add(url)
    return url


def _echo(text: str, *, err: bool = False) -> None:
    click.echo(_scrub(text), err=err)


#: The extra that installs each optional dependency the command line may need.
_EXTRAS = {"httpx": "http", "h2": "http", "psycopg": "postgres", "hypothesis": "testing"}


def _missing(exc: ImportError) -> str:
    """One line for an optional dependency that is not installed: which, and the extra."""
    text = str(exc)
    name = exc.name or next((m for m in _EXTRAS if f"'{m}'" in text or f" {m} " in text), None)
    top = (name or "").partition(".")[0]
    if top in _EXTRAS:
        return (
            f"this needs {top!r}, which is not installed: "
            f"pip install 'restate-versioning[{_EXTRAS[top]}]'"
        )
    return f"a module this needs is not installed: {text}"


#: Where a library message, written for Python callers, names a Python argument, and what the
#: command line says instead: ``(the kind of error, the field of its data the words are about
#: or None, the library's words, the command line's words)``. Every refusal the command line
#: prints goes through it (:func:`_in_flags`, which also gives a ``delay`` in seconds, as
#: ``--delay`` takes it, not as a ``timedelta``); the library's messages stay as they are.
FLAG_WORDS: tuple[tuple[type[VersioningError], str | None, str, str], ...] = (
    (IncompatibleState, None, "(breaking=True does it anyway)", "(--breaking does it anyway)"),
    (InvalidInvocation, "key", "calls need a key (a str), got None", "calls need --key KEY"),
    (InvalidInvocation, "key", "calls take no key, got", "calls take no --key, got"),
    (
        InvalidInvocation,
        "deployment",
        "resume it without a deployment",
        "resume it without --deployment (or with --deployment keep)",
    ),
    (
        InvalidTransition,
        None,
        "invocation allows: keep)",
        "invocation resumes only with --deployment keep)",
    ),
    (
        VersioningError,
        None,
        "register its endpoint again with force=True",
        "register its endpoint again with --force",
    ),
)


def _in_flags(exc: VersioningError) -> str:
    """The message of ``exc`` as the command line says it: with its flags, not Python's
    arguments (:data:`FLAG_WORDS`)."""
    text = str(exc)
    data = exc.data if isinstance(exc, InvalidInvocation) else {}
    for kind, field, library, words in FLAG_WORDS:
        if isinstance(exc, kind) and (field is None or field in data):
            text = text.replace(library, words)
    delay = data.get("delay")
    if isinstance(delay, timedelta):  # in seconds, as --delay takes it, not as a timedelta
        text = text.replace(f"delay {quote(delay)}", f"--delay {delay.total_seconds():g} seconds")
    return text


def _names(services: Sequence[str]) -> str:
    return " ".join(shlex.quote(s) for s in services)


#: What a removal plan's blocker says on the command line: the library's sentence, with the
#: verbs that clear it (:func:`_render_plan`).
BLOCKER_WORDS: dict[BlockerKind, Callable[[Blocker], str]] = {
    BlockerKind.PUBLIC: lambda b: b.message.replace(
        "(set_public(name, False))",
        "(" + "; ".join(f"services set-public {_names([s])} false" for s in b.services) + ")",
    ),
    BlockerKind.CALLERS: lambda b: b.message.replace(
        "Change the callers' business logic first.",
        "Change the callers' business logic first, then forget each caller "
        f"(services callers {_names(b.services) if len(b.services) == 1 else 'SERVICE'} "
        "lists them; "
        "services forget-caller SERVICE CALLER forgets one).",
    ),
    BlockerKind.QUEUED: lambda b: b.message.replace(
        "Let them run or kill them first.",
        "Let them run (invocations start-due starts the scheduled ones that are due) or kill "
        "them (invocations kill ID) first.",
    ),
    BlockerKind.IN_FLIGHT: lambda b: b.message.replace(
        "Wait until it is drained.",
        "Wait until it is drained (invocations complete ID, or invocations kill ID).",
    ),
}


def _blocker(blocker: Blocker) -> str:
    words = BLOCKER_WORDS.get(blocker.kind)
    return words(blocker) if words is not None else blocker.message


def _render_plan(plan: RemovalPlan) -> str:
    """:func:`views.render_removal_plan`, with each blocker as the command line says it."""
    text = views.render_removal_plan(plan)
    for blocker in plan.blockers:
        kind = blocker.kind.value
        text = text.replace(f"{kind}: {blocker.message}", f"{kind}: {_blocker(blocker)}")
    return text


def _fail(message: str) -> NoReturn:
    _echo(f"error: {' '.join(message.splitlines())}", err=True)
    raise SystemExit(1)


class _Group(click.Group):
    """Turns every exception that reaches the top into one ``error: ...`` line on stderr and
    exit code 1, never a traceback: the library's refusals and ``OSError`` by their message,
    anything else by its type and message. Click's own usage errors (exit 2) and exits pass
    through; a usage error's message has its URLs' credentials hidden too."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RemovalBlocked as exc:
            _echo(_render_plan(exc.plan))
            _fail(
                f"removing deployment {exc.plan.deployment_id!r} is not safe; "
                f"use --force to remove it anyway"
            )
        except click.ClickException as exc:
            _hide_credentials(exc)
            raise
        except (click.exceptions.Exit, click.Abort):
            raise
        except VersioningError as exc:
            _fail(_in_flags(exc))
        except OSError as exc:
            _fail(str(exc))
        except ImportError as exc:
            _fail(_missing(exc))
        except Exception as exc:
            _fail(_unexpected(exc))

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Click's ``main``, with a last net for what fails outside :meth:`invoke` (closing the
        store, parsing): one ``error:`` line and exit 1 there too."""
        try:
            return super().main(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # only without standalone mode: the caller handles click's own exits
        except Exception as exc:
            if isinstance(exc, VersioningError):
                _fail(_in_flags(exc))
            _fail(str(exc) if isinstance(exc, OSError) else _unexpected(exc))
        finally:
            _GIVEN.clear()

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """Click's, with the credentials of any URL in a usage error hidden."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.ClickException as exc:
            _hide_credentials(exc)
            raise


def _hide_credentials(exc: click.ClickException) -> None:
    """Hide the credentials of the URLs in a usage error's message (click declares the
    message final; it is rewritten once, before it is shown)."""
    vars(exc)["message"] = _scrub(exc.message)


def _unexpected(exc: BaseException) -> str:
    message = str(exc) or "(no message)"
    return f"unexpected {type(exc).__name__}: {message}"


if TYPE_CHECKING:
    _ParamType = click.ParamType[float, Any]
else:  # generic only in click's stubs of recent versions
    _ParamType = click.ParamType


class _Seconds(_ParamType):
    """A number of seconds: finite, not negative (or positive, for a timeout), and small
    enough for a ``timedelta``. Anything else (``nan``, ``inf``, ``1e300``, ``-1``) is a usage
    error quoting the value."""

    name = "seconds"

    def __init__(self, *, positive: bool) -> None:
        self.positive = positive

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            seconds = value
        else:
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        if seconds < 0 or (self.positive and seconds == 0):
            needed = "more than 0" if self.positive else "0 or more"
            self.fail(f"{value!r} seconds: it must be {needed}", param, ctx)
        try:
            timedelta(seconds=seconds)
        except OverflowError:
            self.fail(f"{value!r} seconds is too long (more than {timedelta.max})", param, ctx)
        return seconds


# --- plumbing -----------------------------------------------------------------------------


def _options(ctx: click.Context) -> _Options:
    options = ctx.find_object(_Options)
    assert options is not None, "the cli group sets them"
    return options


def _registry(ctx: click.Context) -> RegistryQueries:
    """The registry to read: the live cluster, the store, or an empty one if there is no store
    yet (reading creates no file)."""
    options = _options(ctx)
    if options.admin_url is not None:
        try:
            from .admin import AdminSource
        except ImportError:  # pragma: no cover - httpx is a dev dependency
            _fail("--admin-url needs httpx: pip install 'restate-versioning[admin]'")
        try:
            source = AdminSource(options.admin_url, timeout=options.timeout)
        except ValueError as exc:
            raise click.BadParameter(_scrub(str(exc)), param_hint="'--admin-url'") from None
        return source.load()
    if options.stored is None and not options.store.exists():
        _echo(f"note: there is no store at {str(options.store)!r} yet: an empty registry", err=True)
        return Registry()
    return _stored(ctx).registry


def _cluster(ctx: click.Context) -> AdminClient | None:
    """The live cluster to act on with ``--admin-url`` (every write checked by the model
    first: :class:`~restate_versioning.admin.AdminClient`), or ``None`` for the store."""
    options = _options(ctx)
    if options.admin_url is None:
        return None
    try:
        from .admin import AdminClient
    except ImportError:  # pragma: no cover - httpx is a dev dependency
        _fail("--admin-url needs httpx: pip install 'restate-versioning[admin]'")
    try:
        return AdminClient(options.admin_url, timeout=options.timeout)
    except ValueError as exc:
        raise click.BadParameter(_scrub(str(exc)), param_hint="'--admin-url'") from None


def _interactive() -> bool:
    """Whether a person is at the terminal to answer a question."""
    return sys.stdin.isatty()


def _confirm(ctx: click.Context, what: str, yes: bool) -> None:
    """On a terminal, ask before changing a live cluster, as the ``restate`` CLI does (exit 1
    on no); ``--yes``, or no terminal, does not ask."""
    if yes or not _interactive():
        return
    shown = redact(_options(ctx).admin_url or "")
    if not click.confirm(f"{what} on {shown}?", default=False):
        _fail("not confirmed: nothing was changed")


yes_option = click.option(
    "--yes", "-y", is_flag=True, help="With --admin-url: do not ask before changing the cluster."
)


def _stored(ctx: click.Context) -> StoredRegistry:
    """The store, for a command that changes it; a usage error with ``--admin-url``."""
    options = _options(ctx)
    if options.admin_url is not None:
        raise click.UsageError(
            f"{ctx.command_path} changes a registry kept in a store; with --admin-url it is not "
            "available",
            ctx,
        )
    if options.stored is None:
        options.stored = ctx.with_resource(StoredRegistry(SQLiteStorage(options.store)))
    return options.stored


def _id_of(
    parse: Callable[[object], object],
) -> Callable[[click.Context, click.Parameter, str], str]:
    """A click callback: a malformed id (as ``parse`` says) is bad usage (exit 2)."""

    def check(ctx: click.Context, param: click.Parameter, value: str) -> str:
        try:
            parse(value)
        except VersioningError as exc:
            raise click.BadParameter(str(exc), ctx, param) from None
        return value

    return check


_deployment_id = _id_of(parse_deployment_id)
_invocation_id = _id_of(parse_invocation_id)


def _json(value: Any) -> None:
    _echo(json.dumps(_CONVERTER.unstructure(value), indent=2))


def _read_json(path: Path) -> Any:
    """The JSON in ``path``, read strictly and at most :data:`MAX_FILE_BYTES` of it (a larger
    file is refused before it is read whole). Raises ``JsonError``, or ``OSError`` if the file
    cannot be read."""
    with path.open("rb") as file:
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise strict_json.JsonError(
            "$", f"the file is larger than the limit of {MAX_FILE_BYTES} bytes"
        )
    return strict_json.loads(data, max_bytes=MAX_FILE_BYTES)


def _manifest_file(path: Path) -> EndpointManifest:
    """The manifest in ``path``; :class:`InvalidManifest` (exit 1) if it is not strict JSON
    within the size limit, or not a valid manifest."""
    try:
        document = _read_json(path)
    except strict_json.JsonError as exc:
        raise InvalidManifest([Problem(exc.path, f"{str(path)!r}: {exc.reason}")]) from None
    return EndpointManifest.from_json(document)


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
        state = _read_json(path)
    except strict_json.JsonError as exc:
        raise click.BadParameter(
            f"{str(path)!r} is not JSON: {exc}", ctx, param_hint="'--state'"
        ) from None
    if not isinstance(state, dict):
        shown = repr(state)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise click.BadParameter(
            f"{str(path)!r} must hold a JSON object of services, not {shown}",
            ctx,
            param_hint="'--state'",
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
    help="Act on a live cluster's admin API (http://host:9070) instead of the store.",
)
@click.option(
    "--timeout",
    type=_Seconds(positive=True),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds that discovery, and each read of the admin API, may take.",
)
@click.version_option(package_name="restate-versioning")
@click.pass_context
def cli(ctx: click.Context, store: Path, admin_url: str | None, timeout: float) -> None:
    """Restate's versioning rules: deployments, revisions, draining and safe removal."""
    if admin_url is not None:
        _given(admin_url)
    ctx.obj = _Options(store, admin_url, timeout)


@cli.group()
def services() -> None:
    """Services: their latest revisions, status, visibility and callers."""


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
        _echo(views.render_services_list(rows))


@services.command("status")
@click.argument("service", required=False)
@json_option
@click.pass_context
def services_status(ctx: click.Context, service: str | None, as_json: bool) -> None:
    """Uncompleted invocations per handler, and locked keys (`restate services status`).

    A service whose last deployment was removed with --force still shows while calls of it are
    stuck (the server's own says it does not exist); one that never existed is not found."""
    registry = _registry(ctx)
    rows = views.services_status(registry, service)
    keys = views.active_keys(registry, service)
    if as_json:
        _json({"handlers": rows, "active_keys": keys})
        return
    _echo(views.render_services_status(rows))
    if keys:
        _echo(views.render_active_keys(keys))


@services.command("callers")
@click.argument("service")
@json_option
@click.pass_context
def services_callers(ctx: click.Context, service: str, as_json: bool) -> None:
    """The handlers known to call SERVICE.

    Recorded from calls made with --caller, and declared with declare-caller. While one of
    them stays, removing SERVICE's last revision is not safe (a CALLERS blocker)."""
    callers = _registry(ctx).callers_of(service)
    if as_json:
        _json(callers)
    elif not callers:
        _echo(f"No handler is known to call {service!r}.")
    else:
        _echo("\n".join(callers))


@services.command("declare-caller")
@click.argument("service")
@click.argument("caller", metavar="CALLER")
@click.pass_context
def services_declare_caller(ctx: click.Context, service: str, caller: str) -> None:
    """Declare that handler CALLER calls SERVICE.

    CALLER is Service/handler. Declared before any call is made, it blocks removing SERVICE's
    last revision while CALLER's service stays (a CALLERS blocker), as a recorded call does."""
    _stored(ctx).declare_caller(service, caller)
    _echo(f"{caller} calls {service}: declared")


@services.command("forget-caller")
@click.argument("service")
@click.argument("caller", metavar="CALLER")
@click.pass_context
def services_forget_caller(ctx: click.Context, service: str, caller: str) -> None:
    """Forget that handler CALLER calls SERVICE.

    CALLER is Service/handler, declared or recorded from calls; refused (exit 1) if it is not
    known to call SERVICE. Once no caller that stays is left, the CALLERS blocker is gone."""
    _stored(ctx).forget_caller(service, caller)
    _echo(f"{caller} calls {service}: forgotten")


@services.command("set-public")
@click.argument("name")
@click.argument("public", metavar="true|false", type=click.BOOL)
@yes_option
@click.pass_context
def services_set_public(ctx: click.Context, name: str, public: bool, yes: bool) -> None:
    """Make a service's latest revision public or private (with --admin-url, on the cluster)."""
    cluster = _cluster(ctx)
    if cluster is not None:
        _confirm(ctx, f"make {name} {'public' if public else 'private'}", yes)
        revision = cluster.set_public(name, public)
    else:
        revision = _stored(ctx).set_public(name, public)
    visibility = "public" if revision.public else "private"
    _echo(f"{revision.name} revision {revision.revision} is now {visibility}")


@deployments.command("list")
@json_option
@click.pass_context
def deployments_list(ctx: click.Context, as_json: bool) -> None:
    """Every deployment with its status (`restate deployments list --extra`)."""
    rows = views.deployments_list(_registry(ctx))
    if as_json:
        _json(rows)
    else:
        _echo(views.render_deployments_list(rows))


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
        _echo(views.render_deployment_description(description))


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
@yes_option
@click.pass_context
def deployments_register(
    ctx: click.Context,
    endpoint: str,
    manifest: Path | None,
    force: bool,
    breaking: bool,
    dry_run: bool,
    state_file: Path | None,
    yes: bool,
) -> None:
    """Register ENDPOINT: discovered over HTTP, or from --manifest FILE.

    An ENDPOINT that is already registered is UNCHANGED without --force, as on the server: it
    is not discovered again and its --manifest FILE is not read, whatever it holds now; --force
    reads it and overwrites the deployment. A new revision that cannot read the state the
    revisions before it may have written is refused (exit 1) unless --breaking or --force.

    With --admin-url it registers on the cluster: the server discovers ENDPOINT in a dry run,
    the model checks that answer on the cluster as it is, then the server registers it
    (--manifest and --dry-run do not apply there)."""
    _given(endpoint)
    state = _state_file(ctx, state_file)
    cluster = _cluster(ctx)
    if cluster is not None:
        if manifest is not None or dry_run:
            raise click.UsageError(
                "with --admin-url the server discovers the endpoint: --manifest and --dry-run "
                "do not apply",
                ctx,
            )
        _confirm(ctx, f"register {redact(endpoint)}", yes)
        _echo(
            _registration(cluster.register(endpoint, force=force, breaking=breaking, state=state))
        )
        return
    stored = _stored(ctx)
    existing = stored.registry.find_deployment(endpoint) if manifest is not None else None
    if existing is not None and not force:
        # As the server does no discovery of a known endpoint: the file is not read at all.
        known: EndpointManifest | dict[str, Any] = existing.manifest or {}
        result = stored.register(endpoint, known, breaking=breaking, dry_run=dry_run)
    elif manifest is not None:
        result = stored.register(
            endpoint,
            _manifest_file(manifest),
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
            HttpTransport(timeout=_options(ctx).timeout),
            force=force,
            breaking=breaking,
            dry_run=dry_run,
            state=state,
        )
    _echo(_registration(result))
    if result.outcome is Outcome.UNCHANGED:
        ignored = f" (--manifest {str(manifest)!r} is ignored)" if manifest is not None else ""
        _echo(
            f"  {result.deployment.endpoint} is already registered: the manifest was not read "
            f"again{ignored}, as Restate does not discover a known endpoint again; --force "
            f"overwrites it"
        )


@deployments.command("plan-removal")
@deployment_id_argument
@json_option
@click.pass_context
def deployments_plan_removal(ctx: click.Context, deployment_id: str, as_json: bool) -> None:
    """Whether removing a deployment now is safe, why not, and what it would do.

    Exit 0 when it is safe, 1 when it is not (the plan is printed either way), so a script can
    ask `if restate-versioning deployments plan-removal ID; then ...`."""
    plan = _registry(ctx).removal_plan(deployment_id)
    if as_json:
        _echo(json.dumps(_plan_json(plan), indent=2))
    else:
        _echo(_render_plan(plan))
    if not plan.safe:
        _fail(f"removing deployment {plan.deployment_id!r} now is not safe (see the plan)")


@deployments.command("remove")
@deployment_id_argument
@click.option("--force", is_flag=True, help="Remove it even if the plan says it is not safe.")
@yes_option
@click.pass_context
def deployments_remove(ctx: click.Context, deployment_id: str, force: bool, yes: bool) -> None:
    """Remove a deployment; refused (exit 1), with its plan, unless it is safe or --force is
    given. With --admin-url, from the cluster: planned on the cluster as it is, then deleted."""
    cluster = _cluster(ctx)
    if cluster is not None:
        _confirm(ctx, f"remove {deployment_id}" + (" (forced)" if force else ""), yes)
        try:
            removal = cluster.remove(deployment_id, force=force)
        except RemovalBlocked as blocked:
            _echo(_render_plan(blocked.plan))
            raise
    else:
        removal = _stored(ctx).remove(deployment_id, force=force)
    _show_removal(removal)


def _show_removal(removal: Removal) -> None:
    _echo(f"removed {removal.deployment.id}" + (" (forced)" if removal.forced else ""))
    for blocker in removal.overridden:
        _echo(f"  overridden {blocker.kind.value}: {_blocker(blocker)}")
    for effect in removal.effects:
        _echo(f"  {effect}")


@deployments.command("prune")
@click.option("--dry-run", is_flag=True, help="Show what would be removed; remove nothing.")
@click.option("--keep", multiple=True, metavar="ID", help="Never remove this deployment.")
@yes_option
@json_option
@click.pass_context
def deployments_prune(
    ctx: click.Context, dry_run: bool, keep: tuple[str, ...], yes: bool, as_json: bool
) -> None:
    """Remove every deployment of a live cluster that is safe to remove (needs --admin-url),
    oldest first, planning again before each removal; the others are kept, with why."""
    cluster = _cluster(ctx)
    if cluster is None:
        raise click.UsageError("prune acts on a live cluster: give --admin-url", ctx)
    if not dry_run:
        _confirm(ctx, "remove every deployment that is safe to remove", yes)
    pruned = cluster.prune(dry_run=dry_run, keep=keep)
    if as_json:
        _echo(
            json.dumps(
                {
                    "dry_run": pruned.dry_run,
                    "removed": [r.deployment.id for r in pruned.removed],
                    "kept": [_plan_json(p) for p in pruned.kept],
                },
                indent=2,
            )
        )
        return
    verb = "would remove" if dry_run else "removed"
    for removal in pruned.removed:
        _echo(f"{verb} {removal.deployment.id}")
    for plan in pruned.kept:
        why = "; ".join(_blocker(b) for b in plan.blockers) or "asked to be kept"
        _echo(f"kept {plan.deployment_id}: {why}")
    if not pruned.removed:
        _echo("Nothing is safe to remove.")


@deployments.command("wait-drained")
@deployment_id_argument
@click.option(
    "--timeout",
    "wait",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    help="Seconds to wait at most.",
)
@click.option(
    "--poll",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="Seconds between two reads of the cluster.",
)
@json_option
@click.pass_context
def deployments_wait_drained(
    ctx: click.Context, deployment_id: str, wait: float, poll: float, as_json: bool
) -> None:
    """Wait until a deployment of a live cluster is drained (needs --admin-url): nothing
    pinned to it, nothing queued or scheduled for the services that would vanish with it.
    Exit 0 when drained, 1 when the time ran out; a live progress line on a terminal."""
    cluster = _cluster(ctx)
    if cluster is None:
        raise click.UsageError("wait-drained watches a live cluster: give --admin-url", ctx)
    terminal = sys.stderr.isatty()

    def progress(report: DrainProgress) -> None:
        if terminal:
            click.echo(
                f"\r{report.deployment_id}: {report.in_flight} in flight, {report.queued} "
                f"queued, {report.elapsed:.0f} s",
                nl=False,
                err=True,
            )

    try:
        plan = cluster.wait_drained(deployment_id, timeout=wait, poll=poll, progress=progress)
    finally:
        if terminal:
            click.echo("", err=True)
    if as_json:
        _echo(json.dumps(_plan_json(plan), indent=2))
    else:
        _echo(f"{plan.deployment_id} is drained")


@deployments.command("drained")
@json_option
@click.pass_context
def deployments_drained(ctx: click.Context, as_json: bool) -> None:
    """The removal plans of every deployment that is safe to remove now."""
    plans: Sequence[RemovalPlan] = _registry(ctx).drained()
    if as_json:
        _echo(json.dumps([_plan_json(p) for p in plans], indent=2))
    elif not plans:
        _echo("No deployment is safe to remove now.")
    else:
        _echo("\n\n".join(_render_plan(p) for p in plans))


@deployments.command("promote")
@deployment_id_argument
@click.option("--breaking", is_flag=True, help="Promote even if it cannot read the state.")
@click.pass_context
def deployments_promote(ctx: click.Context, deployment_id: str, breaking: bool) -> None:
    """Make a deployment's services the latest again (an instant rollback); refused (exit 1)
    if one of them cannot read the state newer revisions may have written, unless --breaking."""
    _echo(_registration(_stored(ctx).promote(deployment_id, breaking=breaking)))


@cli.group()
def invocations() -> None:
    """Invocations: call a handler, and move a call through its statuses.

    A store has no process of its own to start delayed calls at their time: start-due starts
    every scheduled call whose time has come by the wall clock, as the server would have.
    The other commands do not start them first: each does only what it says (a refused one
    changes nothing) and the history shows when due calls were started; until then they are
    scheduled in every view, and a removal plan counts them as QUEUED."""


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
    "--caller",
    metavar="ID|SERVICE/HANDLER",
    help="Call from this invocation (inv_…, started and not completed), or from this handler, "
    "not the ingress.",
)
@click.option(
    "--delay", type=_Seconds(positive=False), help="Start after this many seconds (0 or more)."
)
@click.option(
    "--pin-at-first-command",
    is_flag=True,
    help="Once started, stay pinned nowhere until `invocations pin ID` (a handler whose first "
    "step waits); by default a call is pinned when it starts.",
)
@click.pass_context
def invocations_invoke(
    ctx: click.Context,
    service: str,
    handler: str,
    key: str | None,
    caller: str | None,
    delay: float | None,
    pin_at_first_command: bool,
) -> None:
    """Call SERVICE/HANDLER, routed to its latest revision."""
    invocation = _stored(ctx).invoke(
        service,
        handler,
        key=key,
        caller=caller,
        delay=timedelta(seconds=delay) if delay is not None else None,
        pin_on_start=not pin_at_first_command,
    )
    _echo(_invocation_line(invocation))


def _invocation_command(name: str, doc: str) -> None:
    @invocations.command(name, help=doc)
    @click.argument("invocation_id", metavar="ID", callback=_invocation_id)
    @click.pass_context
    def command(ctx: click.Context, invocation_id: str) -> None:
        _echo(_invocation_line(getattr(_stored(ctx), name)(invocation_id)))


for _name, _doc in (
    ("suspend", "A running call suspends."),
    (
        "pin",
        "The first command of a call started with --pin-at-first-command reaches the server: "
        "it is pinned to its service's latest deployment.",
    ),
    ("pause", "A running or retrying call is paused, until resume."),
    ("complete", "A running call completes; the next call waiting on its key starts."),
    ("kill", "End a call that is not completed, and the calls it sent (theirs too)."),
):
    _invocation_command(_name, _doc)


@invocations.command("fail")
@click.argument("invocation_id", metavar="ID", callback=_invocation_id)
@click.option(
    "--code",
    required=True,
    metavar="CODE",
    help="Restate's failure code: RT0011 (no deployment), RT0012 (no such handler), RT0018 "
    "(it called a service or handler that does not exist)...",
)
@click.option("--message", help="The failure's message (by default Restate's for the code).")
@click.pass_context
def invocations_fail(
    ctx: click.Context, invocation_id: str, code: str, message: str | None
) -> None:
    """The running attempt of a call fails: it is backing-off, still pinned, until resume."""
    _echo(_invocation_line(_stored(ctx).fail(invocation_id, code=code, message=message)))


def _resume_target(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A click callback: ``keep``, ``latest`` or a well-formed deployment id; else bad usage."""
    if value in ("keep", "latest"):
        return value
    try:
        parse_deployment_id(value)
    except VersioningError as exc:
        raise click.BadParameter(f"{exc} (it takes keep, latest or dp_...)", ctx, param) from None
    return value


@invocations.command("resume")
@click.argument("invocation_id", metavar="ID", callback=_invocation_id)
@click.option(
    "--deployment",
    metavar="keep|latest|ID",
    default="keep",
    show_default=True,
    callback=_resume_target,
    help="Where the next attempt runs: where it is pinned, the latest revision, or this "
    "deployment (a paused or suspended call only).",
)
@yes_option
@click.pass_context
def invocations_resume(ctx: click.Context, invocation_id: str, deployment: str, yes: bool) -> None:
    """The next attempt of a suspended, paused or retrying call.

    It runs where it is pinned, or is moved with --deployment to a deployment that serves its
    service and speaks its protocol version. If the deployment it runs on was removed, the
    attempt fails (backing-off, RT0011); a call that never started starts on the latest
    revision. With --admin-url, on the cluster, once the model has checked it."""
    cluster = _cluster(ctx)
    if cluster is not None:
        _confirm(ctx, f"resume {invocation_id}", yes)
        _echo(_invocation_line(cluster.resume(invocation_id, deployment)))
        return
    _echo(_invocation_line(_stored(ctx).resume(invocation_id, deployment)))


@invocations.command("start-due")
@click.pass_context
def invocations_start_due(ctx: click.Context) -> None:
    """Start the scheduled calls that are due.

    Every scheduled call whose time has come (by the wall clock), in due order: each starts on
    the latest revision, or waits behind its key (pending), or, if its service has
    no deployment left, fails its attempt (backing-off, RT0011)."""
    started = _stored(ctx).start_due()
    if not started:
        _echo("No scheduled call is due.")
    for invocation in started:
        _echo(_invocation_line(invocation))


@invocations.command("list")
@json_option
@click.pass_context
def invocations_list(ctx: click.Context, as_json: bool) -> None:
    """Every invocation the registry knows, oldest first."""
    found = tuple(_registry(ctx).invocations())
    if as_json:
        _json(found)
    elif found:
        _echo(views.render_invocations(found))


@cli.command("history")
@json_option
@click.pass_context
def history(ctx: click.Context, as_json: bool) -> None:
    """What was done to the store, when, and what it did."""
    options = _options(ctx)
    if options.admin_url is not None:
        raise click.UsageError("history is kept in a store; --admin-url has none", ctx)
    records = _stored(ctx).history() if options.store.exists() else ()
    if as_json:
        _json(records)
        return
    if records:
        _echo(views.render_history(records))


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--admin-port",
    type=click.IntRange(0, 65535),
    default=9070,
    show_default=True,
    help="The admin API's port (0: a free one).",
)
@click.option(
    "--ingress-port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="The ingress's port (0: a free one).",
)
@click.pass_context
def serve(ctx: click.Context, host: str, admin_port: int, ingress_port: int) -> None:
    """Serve Restate's admin API and ingress from the store, until interrupted.

    The real ``restate`` CLI and any tool of the admin API work against it
    (RESTATE_ADMIN_URL); POST /deployments discovers real SDK endpoints. Calls wait for
    the control API under /restate-versioning/ to move them (see the documentation of
    restate_versioning.server)."""
    options = _options(ctx)
    if options.admin_url is not None:
        raise click.UsageError("serve serves a store; --admin-url is a cluster already", ctx)
    from .server import ServedRegistry
    from .server import serve as run

    def ready(admin_url: str, ingress_url: str) -> None:
        _echo(f"admin API {admin_url}\ningress {ingress_url}")
        sys.stdout.flush()

    served = ServedRegistry(_stored(ctx))
    with contextlib.suppress(KeyboardInterrupt):
        run(served, host=host, admin_port=admin_port, ingress_port=ingress_port, ready=ready)


def main() -> None:
    """The console script."""
    cli(prog_name="restate-versioning")
