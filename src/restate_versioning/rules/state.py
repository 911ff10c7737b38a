"""The state a Virtual Object or Workflow keeps, and whether a revision can read what another
one wrote (docs/rules.md, "State").

New revisions read and write the state that earlier revisions created for the same keys, and
Restate checks nothing: a renamed field or a narrowed type breaks live objects at run time. This
library goes further than the server. A service declares the shape of each state key as a JSON
Schema, and a revision is checked against the one whose state it will read:

* **Declaring.** In the manifest, one service ``metadata`` entry per state key: the key
  :data:`STATE_METADATA_PREFIX` followed by the state key, the value the schema as JSON text
  (:func:`state_metadata` builds them, for an SDK's ``metadata=``). The server keeps service
  metadata verbatim and relates nothing across revisions; the library reads that text as
  strict JSON (``restate_versioning._json``: no key twice, no ``NaN``, at most 127 levels). Or
  through the API:
  ``Registry.register(..., state={"Cart": {"items": schema}})``. Both end up in the revision's
  ``state``. A key declared both ways must have the same schema; only Virtual Objects and
  Workflows keep state; every schema must be a valid JSON Schema.
  Else :class:`~restate_versioning.errors.InvalidStateSchema`.
* **Registering.** Each new revision is checked against the revisions whose state it takes over:
  for each state key it declares, every value valid under the schema of the newest revision that
  declares the key (the latest one, or an older one if the latest declares nothing for it), and
  under that of each older revision that still has invocations of the service in flight (they
  may still write), must be valid under the new one's
  (:func:`restate_versioning.schemas.backward`). When the answer for the newest one is
  ``UNKNOWN``, what older revisions wrote may still be there, never shown to be readable: the
  key is checked against their declarations too, newest first, while the answer stays
  ``UNKNOWN`` and back to a declaration registered with ``breaking`` over the one before it
  (see :func:`check_state`). An ``INCOMPATIBLE`` key refuses the
  registration with :class:`~restate_versioning.errors.IncompatibleState`, unless ``breaking``
  (or ``force``). ``UNKNOWN`` keys do not refuse; the registration reports them.
* **Closed writers.** A schema describes what a revision writes, and a revision writes only the
  properties it declares: a writer's object schema that declares ``properties`` and no
  ``additionalProperties`` is read as closed (pydantic's default, ``extra="ignore"``), so a
  reader may add an optional property. This goes further than JSON Schema, where such an
  object may hold any other property; ``"additionalProperties": true`` (``extra="allow"``)
  keeps it open. :func:`check_state` takes ``open_objects=True`` for JSON Schema's reading
  (see :mod:`restate_versioning.schemas`).
* **Rolling back.** When removing a deployment makes an older revision the latest again, that
  revision reads what the newer one wrote: the same check with the roles swapped, the forward
  direction. A removal plan reports it as a :class:`~restate_versioning.rules.removal.StateWarning`.
  Promoting an older deployment is a rollback too, checked like a registration: refused unless
  ``breaking``.

A key no registered revision declared before is new state: nothing to compare it with. A
revision declares what its own registration gives: its manifest's metadata and that call's
``state=`` (a forced re-registration makes a new revision from what the endpoint serves now;
``promote`` re-registers the kept manifest with the declarations the deployment had). An
``UNCHANGED`` registration makes no revision and reads no ``state=``.

Every check is bounded in time and size (:mod:`restate_versioning.schemas`: past a bound the
key's verdict is ``UNKNOWN``, with the reason), also with ``breaking``. Replaying a stored
registry runs no state check for what was committed (``register`` and ``promote`` take
``check_state=False``; see :attr:`restate_versioning.commands.Command.replayed`), so
reopening a store costs no check, however expensive the declared schemas.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from .. import _json
from .._frozen import FrozenMap
from ..errors import InvalidStateSchema, Problem, VersioningError
from ..manifest import ServiceManifest, ServiceType, _locate, _show
from ..model import ServiceRevision
from ..schemas import SchemaCompatibility, Verdict, backward, canonical_json, schema_problem

__all__ = [
    "STATEFUL",
    "STATE_METADATA_PREFIX",
    "IncompatibleState",
    "StateCheck",
    "StateKeyCheck",
    "check_state",
    "declared_state",
    "state_from_metadata",
    "state_metadata",
    "stored_state_problems",
]

#: A service ``metadata`` key that starts with this declares the state key after it.
STATE_METADATA_PREFIX = "restate-versioning.state."

_NOTHING: FrozenMap[str, str] = FrozenMap()

#: The service types that keep state.
STATEFUL = frozenset({ServiceType.VIRTUAL_OBJECT, ServiceType.WORKFLOW})


@attrs.frozen
class StateKeyCheck:
    """One state key: can the reader's schema read every value the writer's schema allows?
    The writer is revision ``writer_revision`` (in ``writer_deployment_id``): the newest
    revision that declares the key, or an older one whose state may still be there (see
    :func:`restate_versioning.rules.state.check_state`)."""

    key: str
    compatibility: SchemaCompatibility
    writer_revision: int
    writer_deployment_id: str

    @property
    def verdict(self) -> Verdict:
        return self.compatibility.verdict

    def __str__(self) -> str:
        return f"{self.key!r} as revision {self.writer_revision} declared it: {self.compatibility}"


@attrs.frozen
class StateCheck:
    """Whether revision ``reader_revision`` of ``service`` (in ``reader_deployment_id``) can read
    the state it takes over from revision ``writer_revision`` (in ``writer_deployment_id``), key
    by key: each key the reader declares, against the newest revision that declares it too
    (and the older ones whose state may still be there)."""

    service: str
    writer_revision: int
    writer_deployment_id: str
    reader_revision: int
    reader_deployment_id: str
    keys: tuple[StateKeyCheck, ...]

    @property
    def verdict(self) -> Verdict:
        """``INCOMPATIBLE`` if a key is, else ``UNKNOWN`` if a key is, else ``COMPATIBLE``."""
        verdicts = {k.verdict for k in self.keys}
        for verdict in (Verdict.INCOMPATIBLE, Verdict.UNKNOWN):
            if verdict in verdicts:
                return verdict
        return Verdict.COMPATIBLE

    @property
    def compatible(self) -> bool:
        return self.verdict is Verdict.COMPATIBLE

    def __str__(self) -> str:
        keys = "; ".join(str(k) for k in self.keys if k.verdict is not Verdict.COMPATIBLE)
        return (
            f"{self.service} revision {self.reader_revision} reading the state of revision "
            f"{self.writer_revision}: {self.verdict.value}" + (f" ({keys})" if keys else "")
        )


class IncompatibleState(VersioningError):
    """A revision would read state that its schemas cannot read, and ``breaking`` was not
    given. ``checks`` are the failing :class:`~restate_versioning.rules.state.StateCheck`, one
    per service, each listing its incompatible keys, the reasons and a counterexample. The
    server checks nothing here (no ``code``)."""

    def __init__(self, checks: Sequence[StateCheck]) -> None:
        self.checks: tuple[StateCheck, ...] = tuple(checks)
        reasons = "; ".join(
            f"{c.service} revision {c.reader_revision} cannot read state key {k.key!r} as "
            f"revision {k.writer_revision} declared it: {k.compatibility}"
            for c in self.checks
            for k in c.keys
            if k.verdict.value == "incompatible"
        )
        super().__init__(f"incompatible state: {reasons} (breaking=True does it anyway)")


def state_metadata(schemas: Mapping[str, Any]) -> dict[str, str]:
    """The service metadata entries that declare these state keys (state key -> JSON Schema).

    Raises :class:`InvalidStateSchema`, listing every problem, unless ``schemas`` maps
    non-empty ``str`` keys to JSON Schemas made of JSON values only (no ``NaN``, no
    non-``str`` key, at most 127 levels deep): each problem is at ``[key]`` and the path of
    the offending value inside its schema."""
    if not isinstance(schemas, Mapping):
        raise InvalidStateSchema(
            [Problem("$", f"expected a mapping of state key to JSON Schema, got {_show(schemas)}")]
        )
    problems: list[Problem] = []
    found: dict[str, str] = {}
    for key, schema in schemas.items():
        _declare(key, schema, f"[{_shown_key(key)}]", found, problems)
    if problems:
        raise InvalidStateSchema(problems)
    return {STATE_METADATA_PREFIX + key: text for key, text in found.items()}


def declared_state(
    service: ServiceManifest, given: Mapping[str, Any] | None, index: int
) -> FrozenMap[str, str]:
    """The state keys ``service`` declares, in its metadata and in ``given`` (from the API),
    each with its schema as canonical JSON text. Raises :class:`InvalidStateSchema` listing
    every problem: among them a schema in metadata that is not JSON text as the server reads
    it (``NaN``, a key twice, deeper than 127 levels) and one in ``given`` that is not made of
    JSON values, each at the path of the offending value."""
    metadata = service.metadata or _NOTHING
    if given is None and not any(entry.startswith(STATE_METADATA_PREFIX) for entry in metadata):
        return _NOTHING  # what nearly every service declares: nothing
    problems: list[Problem] = []
    found = _from_metadata(metadata, f"$.services[{index}].metadata", problems)
    if given is not None:
        if not isinstance(given, Mapping):
            problems.append(
                Problem(
                    f"state[{service.name!r}]",
                    f"expected a mapping of state key to JSON Schema, got {_show(given)}",
                )
            )
        else:
            for key, schema in given.items():
                _declare(
                    key, schema, f"state[{service.name!r}][{_shown_key(key)}]", found, problems
                )
    _stateful(service.name, service.type, found, f"$.services[{index}]", problems)
    if problems:
        raise InvalidStateSchema(problems)
    return FrozenMap(sorted(found.items()))


def state_from_metadata(
    name: str, service_type: ServiceType, metadata: Mapping[str, str], path: str = "$"
) -> FrozenMap[str, str]:
    """The state keys a service's ``metadata`` declares (as :func:`declared_state`, for a
    service read back from a live cluster). Raises :class:`InvalidStateSchema`."""
    problems: list[Problem] = []
    found = _from_metadata(metadata, f"{path}.metadata", problems)
    _stateful(name, service_type, found, path, problems)
    if problems:
        raise InvalidStateSchema(problems)
    return FrozenMap(sorted(found.items()))


def stored_state_problems(revision: ServiceRevision, path: str) -> list[Problem]:
    """What is wrong with a revision's ``state`` as loaded from a snapshot: every value must be
    the JSON text of a JSON Schema, and only stateful services have any."""
    problems: list[Problem] = []
    for key, text in revision.state.items():
        try:
            schema = _json.loads(text)
        except _json.JsonError as exc:
            problems.append(Problem(f"{path}.state[{key!r}]", f"not JSON text: {exc}"))
            continue
        problem = schema_problem(schema)
        if problem is not None:
            problems.append(Problem(f"{path}.state[{key!r}]", f"not a JSON Schema: {problem}"))
    _stateful(revision.name, revision.type, dict(revision.state), path, problems)
    return problems


def _from_metadata(
    metadata: Mapping[str, str], path: str, problems: list[Problem]
) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry, text in sorted(metadata.items()):
        if not entry.startswith(STATE_METADATA_PREFIX):
            continue
        key = entry.removeprefix(STATE_METADATA_PREFIX)
        where = f"{path}[{entry!r}]"
        try:
            schema = _json.loads(text)
        except _json.JsonError as exc:
            inside = (_locate(text, exc.reason) or exc.path).removeprefix("$")
            problems.append(
                Problem(
                    where + inside, f"the schema of state key {key!r} is not JSON: {exc.reason}"
                )
            )
            continue
        _declare(key, schema, where, found, problems)
    return found


def _shown_key(key: object) -> str:
    """A state key as a path shows it: ``repr`` for a string, a short form for anything else
    (an ``int`` may be too long for ``repr``)."""
    return repr(key) if isinstance(key, str) else _show(key)


def _stateful(
    name: str,
    service_type: ServiceType,
    found: Mapping[str, str],
    path: str,
    problems: list[Problem],
) -> None:
    if found and service_type not in STATEFUL:
        problems.append(
            Problem(
                path,
                f"{name!r} is a {service_type.title}, which keeps no state, but it declares "
                f"state keys {sorted(found)!r}",
            )
        )


def _declare(
    key: Any, schema: Any, path: str, found: dict[str, str], problems: list[Problem]
) -> None:
    if not isinstance(key, str) or not key:
        problems.append(Problem(path, f"a state key is a non-empty string, not {_show(key)}"))
        return
    try:
        _json.check_value(schema, path)
    except _json.JsonError as exc:
        problems.append(
            Problem(
                exc.path,
                f"the schema of state key {key!r} is not made of JSON values: {exc.reason}",
            )
        )
        return
    problem = schema_problem(schema)
    if problem is not None:
        problems.append(
            Problem(path, f"the schema of state key {key!r} is not a JSON Schema: {problem}")
        )
        return
    text = canonical_json(schema)
    if found.get(key, text) != text:
        problems.append(
            Problem(path, f"state key {key!r} is declared twice, with different schemas")
        )
        return
    found[key] = text


def check_state(
    writer: ServiceRevision,
    reader: ServiceRevision,
    earlier: Iterable[ServiceRevision] = (),
    still_writing: Iterable[ServiceRevision] = (),
    *,
    open_objects: bool = False,
) -> StateCheck:
    """Whether ``reader`` can read the state it takes over from ``writer``.

    Each state key the reader declares is checked against the newest revision that declares
    it: ``writer``, or else the first of ``earlier`` (older revisions, newest first) that does;
    a key no revision declared before is new, with nothing to check. When that check is
    ``UNKNOWN``, the values the older revisions of ``earlier`` wrote may still be there, unread
    by any proven reader: the key is checked against each older declaration too, newest first,
    while the answer stays ``UNKNOWN``; a declaration that the next newer one is known not to
    read (``INCOMPATIBLE``: it was registered with ``breaking``) ends that history, its state
    taken as broken on purpose. So an ``UNKNOWN`` answer never hides an ``INCOMPATIBLE`` one
    against older state. It is also checked against each of ``still_writing`` that declares it
    differently: older revisions with invocations in flight, which may still write it. For a new
    revision the writer is the current latest (backward); for a rollback the writer is the newer
    revision and the reader the older one (forward). ``open_objects`` is
    :func:`~restate_versioning.schemas.backward`'s: by default a writer's object schema without
    ``additionalProperties`` is read as closed."""
    history = list(earlier)
    writers = dict.fromkeys(writer.state, writer)
    missing = set(reader.state) - set(writers)
    if missing:
        for older in history:
            for key in missing & set(older.state):
                writers[key] = older
            missing -= set(older.state)
            if not missing:
                break
    answers: dict[tuple[str, int], SchemaCompatibility] = {}

    def answer(key: str, source: ServiceRevision) -> SchemaCompatibility:
        found = answers.get((key, source.revision))
        if found is None:
            found = _compatibility(source.state[key], reader.state[key], open_objects)
            answers[key, source.revision] = found
        return found

    pairs: list[tuple[str, ServiceRevision]] = []
    for key in sorted(set(reader.state) & set(writers)):
        pairs += _declared_before(key, writers[key], history, answer, open_objects)
    for other in still_writing:
        for key in sorted(set(reader.state) & set(other.state)):
            if all(w.state[key] != other.state[key] for k, w in pairs if k == key):
                pairs.append((key, other))
    keys = tuple(
        StateKeyCheck(key, answer(key, source), source.revision, source.deployment_id)
        for key, source in sorted(pairs, key=lambda pair: (pair[0], -pair[1].revision))
    )
    return StateCheck(
        reader.name,
        writer.revision,
        writer.deployment_id,
        reader.revision,
        reader.deployment_id,
        keys,
    )


def _declared_before(
    key: str,
    newest: ServiceRevision,
    history: Iterable[ServiceRevision],
    answer: Callable[[str, ServiceRevision], SchemaCompatibility],
    open_objects: bool,
) -> list[tuple[str, ServiceRevision]]:
    """The revisions whose declaration of ``key`` the reader is checked against: ``newest``,
    and while the answer is ``UNKNOWN`` the older ones whose state may still be there (see
    :func:`check_state`), each schema once."""
    found = [(key, newest)]
    current = newest
    verdict = answer(key, newest).verdict
    for older in history:
        if verdict is not Verdict.UNKNOWN:
            break
        if older.revision >= current.revision or key not in older.state:
            continue
        written, then_read = older.state[key], current.state[key]
        if written == then_read:
            continue  # the same values: the same answer
        if _compatibility(written, then_read, open_objects).verdict is Verdict.INCOMPATIBLE:
            break  # the newer declaration broke with this one on purpose
        if all(source.state[key] != written for _, source in found):
            found.append((key, older))
        verdict = answer(key, older).verdict
        current = older
    return found


def _compatibility(written: str, read: str, open_objects: bool = False) -> SchemaCompatibility:
    """:func:`backward` of two declared schemas (canonical JSON text), kept for the last 1,024
    pairs of schemas up to :data:`_CACHED_CHARS` characters each: removal plans ask about the
    same pairs again and again."""
    if len(written) > _CACHED_CHARS or len(read) > _CACHED_CHARS:
        return _uncached_compatibility(written, read, open_objects)
    return _cached_compatibility(written, read, open_objects)


#: Declared schemas longer than this (as canonical JSON) are compared again each time, not kept.
_CACHED_CHARS = 16_384


def _uncached_compatibility(written: str, read: str, open_objects: bool) -> SchemaCompatibility:
    return backward(json.loads(written), json.loads(read), open_objects=open_objects)


_cached_compatibility = functools.lru_cache(maxsize=1024)(_uncached_compatibility)
