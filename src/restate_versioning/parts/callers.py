"""Who calls whom: the part of a registry that keeps, per service, the handlers that call it,
recorded from the calls made (how many) and declared up front. It goes further than the
server, which keeps no such graph: the removal plan blocks on it (see docs/rules.md, "Calls
made from invocations")."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["CallGraph"]


class CallGraph:
    """Per service, its callers (``"Service/handler"``): recorded, with how many calls each
    made, and declared."""

    __slots__ = ("_declared", "_recorded")

    def __init__(self) -> None:
        self._recorded: dict[str, dict[str, int]] = {}
        self._declared: dict[str, dict[str, None]] = {}

    @classmethod
    def build(
        cls, recorded: Iterable[tuple[str, str, int]], declared: Iterable[tuple[str, str]]
    ) -> CallGraph:
        """The graph of a snapshot's ``callers`` and ``declared_callers``."""
        graph = cls()
        for service, caller, count in recorded:
            graph._recorded.setdefault(service, {})[caller] = count
        for service, caller in declared:
            graph._declared.setdefault(service, {})[caller] = None
        return graph

    def record(self, service: str, caller: str) -> None:
        """A call from ``caller`` into ``service`` was made."""
        found = self._recorded.setdefault(service, {})
        found[caller] = found.get(caller, 0) + 1

    def declare(self, service: str, caller: str) -> None:
        """``caller`` calls ``service``, said up front."""
        self._declared.setdefault(service, {})[caller] = None

    def knows(self, service: str, caller: str) -> bool:
        """Whether ``caller`` is recorded or declared to call ``service``."""
        return caller in self._recorded.get(service, {}) or caller in self._declared.get(
            service, {}
        )

    def forget(self, service: str, caller: str) -> None:
        """``caller`` no longer calls ``service``: recorded or declared."""
        for index in (self._recorded, self._declared):
            found = index.get(service)
            if found is not None and caller in found:
                del found[caller]
                if not found:
                    del index[service]

    def callers_of(self, service: str) -> tuple[str, ...]:
        """The callers of ``service``, recorded and declared, sorted."""
        found = set(self._recorded.get(service, ())) | set(self._declared.get(service, ()))
        return tuple(sorted(found))

    def recorded(self) -> tuple[tuple[str, str, int], ...]:
        """``(service, caller, calls)`` for each recorded caller (a snapshot's ``callers``)."""
        return tuple(
            (service, caller, count)
            for service, found in self._recorded.items()
            for caller, count in found.items()
        )

    def declared(self) -> tuple[tuple[str, str], ...]:
        """``(service, caller)`` for each declared caller (a snapshot's ``declared_callers``)."""
        return tuple(
            (service, caller) for service, found in self._declared.items() for caller in found
        )

    def problems(self) -> tuple[str, ...]:
        """What is inconsistent in the graph: a service kept with no caller, a caller
        recorded with a count that is not a positive int."""
        problems = [
            f"callers: {service!r} is kept with no caller"
            for index in (self._recorded, self._declared)
            for service, found in index.items()
            if not found
        ]
        problems.extend(
            f"callers: {caller!r} of {service!r} is recorded {count!r} times"
            for service, caller, count in self.recorded()
            if type(count) is not int or count < 1
        )
        return tuple(problems)
