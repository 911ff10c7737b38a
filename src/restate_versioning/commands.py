"""The commands that change a registry, as values.

One frozen class per state-changing operation of :class:`~restate_versioning.Registry`, named
after its method (``Register`` for :meth:`~restate_versioning.Registry.register`, ``SetPublic``
for :meth:`~restate_versioning.Registry.set_public`...) and with the method's parameters as
fields, with the same defaults. :meth:`Registry.execute
<restate_versioning.Registry.execute>` runs one and returns what the method returns; the
methods are the readable way to run them. A command is checked when it runs, as the method
checks its arguments: making one checks nothing, so a tool can build commands from requests
and get each refusal from the registry, with the input quoted.

The commands are data other code works from: :data:`COMMANDS` lists them, each class knows
its method (:attr:`Command.method`) and what a journal replays differently
(:attr:`Command.replayed`); :class:`~restate_versioning.storage.StoredRegistry` journals them
through the library's converter, the test strategies and the state machine generate them, and
the conformance suite maps each to its server call.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Generic, Literal, TypeVar

import attrs

from .endpoints import Endpoint
from .enums import ResumeOn
from .errors import InvalidInvocation, quote
from .manifest import Discovery, EndpointManifest
from .model import Deployment, Invocation, ServiceRevision
from .rules.manifest import SERVICE_NAME
from .rules.registration import Registration
from .rules.removal import Removal

__all__ = [
    "COMMANDS",
    "Caller",
    "Command",
    "Complete",
    "DeclareCaller",
    "Fail",
    "ForgetCaller",
    "Invoke",
    "Kill",
    "ManifestInput",
    "Pause",
    "Pin",
    "Promote",
    "Purge",
    "Register",
    "Remove",
    "Resume",
    "ResumeOn",
    "ResumeTarget",
    "SetOptions",
    "SetPublic",
    "StartDue",
    "Suspend",
    "UpdateDeployment",
]

#: Where :class:`Resume` runs a call: where it is pinned or on the latest revision
#: (:class:`~restate_versioning.enums.ResumeOn`, or its word), or on a deployment (its id).
ResumeTarget = ResumeOn | Literal["keep", "latest"] | str
#: What :class:`Register` takes as the manifest: a discovery, a parsed manifest, or its JSON.
ManifestInput = Discovery | EndpointManifest | str | bytes | bytearray | Mapping[str, Any]

#: What running a command returns.
R = TypeVar("R")


@attrs.frozen
class Caller:
    """A calling handler: a service and one of its handlers, written ``"Service/handler"``
    (``str(caller)``), as :attr:`Invocation.caller <restate_versioning.model.Invocation>`
    keeps it. The commands that take a caller take this or its text."""

    service: str
    handler: str

    def __str__(self) -> str:
        return f"{self.service}/{self.handler}"

    @classmethod
    def parse(cls, value: object) -> Caller:
        """The caller ``value`` names (``"Service/handler"``, or a :class:`Caller`, checked):
        :class:`~restate_versioning.errors.InvalidInvocation`, quoting it, for anything
        else."""
        text = str(value) if isinstance(value, Caller) else value
        service, _, handler = text.partition("/") if isinstance(text, str) else ("", "", "")
        if not SERVICE_NAME.fullmatch(service) or not handler:
            raise InvalidInvocation(
                "caller is the calling invocation (an Invocation or its 'inv_…' id) or the "
                f"calling handler as 'Service/handler', got {quote(value)}",
                caller=value,
            )
        return cls(service, handler)


@attrs.frozen
class Command(Generic[R]):
    """A command whose :meth:`Registry.execute <restate_versioning.Registry.execute>` returns
    an ``R``. ``method`` is the :class:`~restate_versioning.Registry` method it runs (and its
    name in a journal); ``replayed`` are fields a journal sets when it replays a committed
    command, so that the checks that could refuse it (the service-type check, the state
    check) do not run again, in case they have become stricter since."""

    method: ClassVar[str]
    replayed: ClassVar[Mapping[str, object]] = {}


@attrs.frozen
class Register(Command[Registration]):
    """:meth:`Registry.register <restate_versioning.Registry.register>`."""

    method: ClassVar[str] = "register"
    replayed: ClassVar[Mapping[str, object]] = {"breaking": True, "check_state": False}

    endpoint: str | Endpoint
    manifest: ManifestInput
    force: bool = False
    breaking: bool = False
    dry_run: bool = False
    http_version: str | None = None
    sdk_version: str | None = None
    state: Mapping[str, Mapping[str, Any]] | None = None
    check_state: bool = True


@attrs.frozen
class UpdateDeployment(Command[Deployment]):
    """:meth:`Registry.update_deployment <restate_versioning.Registry.update_deployment>`."""

    method: ClassVar[str] = "update_deployment"

    deployment_id: str
    endpoint: str | Endpoint
    manifest: ManifestInput
    dry_run: bool = False
    http_version: str | None = None
    sdk_version: str | None = None


@attrs.frozen
class Promote(Command[Registration]):
    """:meth:`Registry.promote <restate_versioning.Registry.promote>`."""

    method: ClassVar[str] = "promote"
    replayed: ClassVar[Mapping[str, object]] = {"breaking": True, "check_state": False}

    deployment_id: str
    breaking: bool = False
    check_state: bool = True


@attrs.frozen
class SetPublic(Command[ServiceRevision]):
    """:meth:`Registry.set_public <restate_versioning.Registry.set_public>`."""

    method: ClassVar[str] = "set_public"

    name: str
    public: bool


@attrs.frozen
class SetOptions(Command[ServiceRevision]):
    """:meth:`Registry.set_options <restate_versioning.Registry.set_options>`."""

    method: ClassVar[str] = "set_options"

    name: str
    idempotency_retention_ms: int | None = None
    journal_retention_ms: int | None = None
    workflow_completion_retention_ms: int | None = None
    inactivity_timeout_ms: int | None = None
    abort_timeout_ms: int | None = None


@attrs.frozen
class Remove(Command[Removal]):
    """:meth:`Registry.remove <restate_versioning.Registry.remove>`."""

    method: ClassVar[str] = "remove"

    deployment_id: str
    force: bool = False


@attrs.frozen
class DeclareCaller(Command[None]):
    """:meth:`Registry.declare_caller <restate_versioning.Registry.declare_caller>`."""

    method: ClassVar[str] = "declare_caller"

    service: str
    caller: str | Caller


@attrs.frozen
class ForgetCaller(Command[None]):
    """:meth:`Registry.forget_caller <restate_versioning.Registry.forget_caller>`."""

    method: ClassVar[str] = "forget_caller"

    service: str
    caller: str | Caller


@attrs.frozen
class Invoke(Command[Invocation]):
    """:meth:`Registry.invoke <restate_versioning.Registry.invoke>`."""

    method: ClassVar[str] = "invoke"

    service: str
    handler: str
    key: str | None = None
    caller: str | Caller | Invocation | None = None
    delay: timedelta | None = None
    pin_on_start: bool = True


@attrs.frozen
class StartDue(Command[tuple[Invocation, ...]]):
    """:meth:`Registry.start_due <restate_versioning.Registry.start_due>`."""

    method: ClassVar[str] = "start_due"


@attrs.frozen
class Pin(Command[Invocation]):
    """:meth:`Registry.pin <restate_versioning.Registry.pin>`."""

    method: ClassVar[str] = "pin"

    invocation_id: str


@attrs.frozen
class Suspend(Command[Invocation]):
    """:meth:`Registry.suspend <restate_versioning.Registry.suspend>`."""

    method: ClassVar[str] = "suspend"

    invocation_id: str


@attrs.frozen
class Fail(Command[Invocation]):
    """:meth:`Registry.fail <restate_versioning.Registry.fail>`."""

    method: ClassVar[str] = "fail"

    invocation_id: str
    code: str
    message: str | None = None


@attrs.frozen
class Pause(Command[Invocation]):
    """:meth:`Registry.pause <restate_versioning.Registry.pause>`."""

    method: ClassVar[str] = "pause"

    invocation_id: str


@attrs.frozen
class Resume(Command[Invocation]):
    """:meth:`Registry.resume <restate_versioning.Registry.resume>`."""

    method: ClassVar[str] = "resume"

    invocation_id: str
    deployment: ResumeTarget = ResumeOn.KEEP


@attrs.frozen
class Complete(Command[Invocation]):
    """:meth:`Registry.complete <restate_versioning.Registry.complete>`."""

    method: ClassVar[str] = "complete"

    invocation_id: str


@attrs.frozen
class Kill(Command[Invocation]):
    """:meth:`Registry.kill <restate_versioning.Registry.kill>`."""

    method: ClassVar[str] = "kill"

    invocation_id: str


@attrs.frozen
class Purge(Command[Invocation]):
    """:meth:`Registry.purge <restate_versioning.Registry.purge>`."""

    method: ClassVar[str] = "purge"

    invocation_id: str


#: Every command, by the name of the method it runs (and its name in a journal).
COMMANDS: Mapping[str, type[Command[Any]]] = {
    command.method: command
    for command in (
        Register,
        UpdateDeployment,
        Promote,
        SetPublic,
        SetOptions,
        Remove,
        DeclareCaller,
        ForgetCaller,
        Invoke,
        StartDue,
        Pin,
        Suspend,
        Fail,
        Pause,
        Resume,
        Complete,
        Kill,
        Purge,
    )
}
