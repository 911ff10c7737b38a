"""restate-versioning: an exact, executable model of how Restate versions services.

Pure and I/O-free. :class:`Registry` is the aggregate; the rules it applies live in
:mod:`restate_versioning.rules`, one module per rule; values are frozen attrs classes in
:mod:`restate_versioning.model`; JSON lives at the edge in
:mod:`restate_versioning.serialization`. Every error derives from :class:`VersioningError`.
"""

from __future__ import annotations

from .clock import ManualClock as ManualClock
from .commands import Caller as Caller
from .commands import ResumeOn as ResumeOn
from .endpoints import Endpoint as Endpoint
from .endpoints import EndpointKind as EndpointKind
from .endpoints import parse_endpoint as parse_endpoint
from .errors import ConcurrentModification as ConcurrentModification
from .errors import DeploymentNotFound as DeploymentNotFound
from .errors import DeploymentRemoved as DeploymentRemoved
from .errors import DeploymentUpdateRefused as DeploymentUpdateRefused
from .errors import HandlerNotFound as HandlerNotFound
from .errors import InvalidCaller as InvalidCaller
from .errors import InvalidCommand as InvalidCommand
from .errors import InvalidEndpoint as InvalidEndpoint
from .errors import InvalidId as InvalidId
from .errors import InvalidInvocation as InvalidInvocation
from .errors import InvalidManifest as InvalidManifest
from .errors import InvalidServiceOptions as InvalidServiceOptions
from .errors import InvalidSnapshot as InvalidSnapshot
from .errors import InvalidStateSchema as InvalidStateSchema
from .errors import InvalidTime as InvalidTime
from .errors import InvalidTransition as InvalidTransition
from .errors import InvocationNotFound as InvocationNotFound
from .errors import Problem as Problem
from .errors import ServiceNotFound as ServiceNotFound
from .errors import ServiceNotPublic as ServiceNotPublic
from .errors import ServiceTypeChanged as ServiceTypeChanged
from .errors import StorageError as StorageError
from .errors import VersioningError as VersioningError
from .ids import IdGenerator as IdGenerator
from .ids import RandomIds as RandomIds
from .ids import SequentialIds as SequentialIds
from .manifest import EndpointManifest as EndpointManifest
from .manifest import HandlerManifest as HandlerManifest
from .manifest import ServiceManifest as ServiceManifest
from .model import Deployment as Deployment
from .model import DeploymentStatus as DeploymentStatus
from .model import Failure as Failure
from .model import Handler as Handler
from .model import HandlerType as HandlerType
from .model import Invocation as Invocation
from .model import InvocationStatus as InvocationStatus
from .model import LockedKey as LockedKey
from .model import OnMaxAttempts as OnMaxAttempts
from .model import Outcome as Outcome
from .model import ProtocolMode as ProtocolMode
from .model import RetryPolicy as RetryPolicy
from .model import ServiceRevision as ServiceRevision
from .model import ServiceType as ServiceType
from .registry import Registry as Registry
from .rules.callers import CALLS_METADATA_KEY as CALLS_METADATA_KEY
from .rules.callers import calls_metadata as calls_metadata
from .rules.registration import Registration as Registration
from .rules.registration import RevisionChange as RevisionChange
from .rules.removal import Blocker as Blocker
from .rules.removal import BlockerKind as BlockerKind
from .rules.removal import Effect as Effect
from .rules.removal import EffectKind as EffectKind
from .rules.removal import Removal as Removal
from .rules.removal import RemovalBlocked as RemovalBlocked
from .rules.removal import RemovalPlan as RemovalPlan
from .rules.removal import StateWarning as StateWarning
from .rules.state import STATE_METADATA_PREFIX as STATE_METADATA_PREFIX
from .rules.state import IncompatibleState as IncompatibleState
from .rules.state import StateCheck as StateCheck
from .rules.state import StateKeyCheck as StateKeyCheck
from .rules.state import state_metadata as state_metadata
from .schemas import SchemaCompatibility as SchemaCompatibility
from .schemas import Verdict as Verdict
from .snapshot import RegistrySnapshot as RegistrySnapshot

__version__ = "0.1.0"

__all__ = [
    "CALLS_METADATA_KEY",
    "STATE_METADATA_PREFIX",
    "Blocker",
    "BlockerKind",
    "Caller",
    "ConcurrentModification",
    "Deployment",
    "DeploymentNotFound",
    "DeploymentRemoved",
    "DeploymentStatus",
    "DeploymentUpdateRefused",
    "Effect",
    "EffectKind",
    "Endpoint",
    "EndpointKind",
    "EndpointManifest",
    "Failure",
    "Handler",
    "HandlerManifest",
    "HandlerNotFound",
    "HandlerType",
    "IdGenerator",
    "IncompatibleState",
    "InvalidCaller",
    "InvalidCommand",
    "InvalidEndpoint",
    "InvalidId",
    "InvalidInvocation",
    "InvalidManifest",
    "InvalidServiceOptions",
    "InvalidSnapshot",
    "InvalidStateSchema",
    "InvalidTime",
    "InvalidTransition",
    "Invocation",
    "InvocationNotFound",
    "InvocationStatus",
    "LockedKey",
    "ManualClock",
    "OnMaxAttempts",
    "Outcome",
    "Problem",
    "ProtocolMode",
    "RandomIds",
    "Registration",
    "Registry",
    "RegistrySnapshot",
    "Removal",
    "RemovalBlocked",
    "RemovalPlan",
    "ResumeOn",
    "RetryPolicy",
    "RevisionChange",
    "SchemaCompatibility",
    "SequentialIds",
    "ServiceManifest",
    "ServiceNotFound",
    "ServiceNotPublic",
    "ServiceRevision",
    "ServiceType",
    "ServiceTypeChanged",
    "StateCheck",
    "StateKeyCheck",
    "StateWarning",
    "StorageError",
    "Verdict",
    "VersioningError",
    "calls_metadata",
    "parse_endpoint",
    "state_metadata",
]
