"""Random scenarios, replayed on a real restate-server 1.7.12 and on the model, compared after
every step (see ``scenario.py``).

``make test`` runs a few scenarios; ``make conformance`` many more. The environment decides:

* ``CONFORMANCE_SCENARIOS`` (default 3) scenarios of ``CONFORMANCE_STEPS`` (default 30) steps,
  with the seeds ``CONFORMANCE_BASE_SEED`` (default 0), +1, +2...;
* ``CONFORMANCE_SEED=123`` replays that one seed only;
* ``CONFORMANCE_SHRINK`` (default 30): how many replays a failure may spend looking for a
  shorter scenario that still fails;
* ``CONFORMANCE_CLI_EVERY`` (default 5): compare with the real ``restate deployments list
  --extra`` every that many steps, and after the last (0: never).

A failure prints the seed, the steps, the shrunk steps and what each side said.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import pytest

from ..helpers import needed
from ..restate_server import RestateServer, RestateUnavailable, find_binary
from .scenario import (
    Disagreement,
    Elapse,
    EndpointPool,
    Invoke,
    Kill,
    Pause,
    Register,
    Remove,
    Resolve,
    Resume,
    ScenarioResult,
    SetPublic,
    Step,
    describe,
    generate,
    run,
    shrink,
)

pytestmark = [pytest.mark.conformance, pytest.mark.integration]


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def _seeds() -> list[int]:
    if os.environ.get("CONFORMANCE_SEED"):
        return [int(os.environ["CONFORMANCE_SEED"])]
    base = _int("CONFORMANCE_BASE_SEED", 0)
    return list(range(base, base + _int("CONFORMANCE_SCENARIOS", 3)))


@pytest.fixture(scope="module")
def pool() -> Iterator[EndpointPool]:
    """The SDK endpoints, shared by every scenario of the module."""
    from ..sdk.endpoint import SdkUnavailable

    try:
        find_binary("restate-server")
        find_binary("restate")
    except RestateUnavailable as exc:
        needed("restate-server or restate CLI", exc)
    try:
        started = EndpointPool.start()
    except SdkUnavailable as exc:
        needed("Restate Python SDK endpoint", exc)
    try:
        yield started
    finally:
        started.stop()


def _start_server() -> RestateServer:
    try:
        return RestateServer.start()
    except RestateUnavailable as exc:
        needed("restate-server that starts", exc)


@pytest.mark.parametrize("seed", _seeds())
def test_scenario(seed: int, pool: EndpointPool) -> None:
    count = _int("CONFORMANCE_STEPS", 30)
    cli_every = _int("CONFORMANCE_CLI_EVERY", 5)
    steps = generate(seed, count)
    try:
        result = run(steps, pool, cli_every=cli_every, start_server=_start_server)
    except Disagreement as failure:

        def replay(candidate: Sequence[Step]) -> Disagreement | None:
            try:
                run(candidate, pool, cli_every=cli_every, start_server=_start_server)
            except Disagreement as again:
                return again
            return None

        shrunk, last = shrink(steps, failure, replay, budget=_int("CONFORMANCE_SHRINK", 30))
        pytest.fail(
            f"the server and the model disagree: seed {seed} "
            f"(replay: CONFORMANCE_SEED={seed} CONFORMANCE_STEPS={count})\n"
            f"{failure}\n\nsteps:\n{describe(steps)}\n\n"
            f"what each step did:\n  " + "\n  ".join(failure.log) + "\n\n"
            f"shrunk to {len(shrunk)} steps, which fail with:\n{last}\n"
            f"shrunk steps:\n{describe(shrunk)}",
            pytrace=False,
        )
    assert result.steps == count


#: A scenario written by hand, so that every run reaches the interplays random scenarios reach
#: only now and then: queued work pinned when it starts, a type change, a private service,
#: fallbacks after removals, revision numbers reused, and a call that starts when its service
#: has no deployment left (RT0011, backing-off) and then runs on a new one.
STORY: tuple[Step, ...] = (
    Register("v1-a"),  # deployment #0
    Invoke("TicketObject", "reserve", "k1", "slow"),  # invocation #0 holds k1, on v1
    Invoke("TicketObject", "reserve", "k1", "quick"),  # #1 waits behind it: pending
    Invoke("Greeter", "greet", None, "slow"),  # #2 pinned to v1
    Invoke("Greeter", "greet", None, "delayed"),  # #3 scheduled
    Register("v2-a"),  # deployment #1: the latest
    Kill(0),  # #1 starts now, on v2, and completes
    Invoke("TicketObject", "reserve", "k1", "slow"),  # #4 holds k1, on v2
    Invoke("TicketObject", "reserve", "k1", "quick"),  # #5 pending
    Register("retyped"),  # META0006: Greeter would become a Virtual Object
    Register("retyped", breaking=True),  # deployment #2
    Invoke("Greeter", "greet", "k1", "slow"),  # #6, keyed now
    SetPublic("TicketObject", False),
    Invoke("TicketObject", "reserve", "k2", "quick"),  # refused: not public
    Remove(2),  # back to v2: Greeter a Service again, TicketObject public again
    Remove(1),  # back to v1
    Remove(0),  # nothing left
    Kill(4),  # #5 starts with no deployment: RT0011, backing-off
    Register("v1-b", slash=True),  # revision 1 again; #5 runs on it at its next retry
    Kill(2),  # the call pinned to the removed v1
    Invoke("Greeter", "greet", None, "quick"),
    Register("v1-rr"),  # request/response: a sleeping call suspends at once
    Invoke("Greeter", "greet", None, "slow"),  # suspended, pinned to v1-rr
)


def _run_story(story: tuple[Step, ...], pool: EndpointPool) -> ScenarioResult:
    """A hand-written scenario, the CLI checked after every step; a disagreement fails the
    test with the steps and what each did."""
    try:
        return run(story, pool, cli_every=1, start_server=_start_server)
    except Disagreement as failure:
        pytest.fail(
            f"{failure}\n\nsteps:\n{describe(story)}\n\nwhat each step did:\n  "
            + "\n  ".join(failure.log),
            pytrace=False,
        )


def test_story(pool: EndpointPool) -> None:
    result = _run_story(STORY, pool)
    assert {s.value for s in result.statuses} >= {
        "pending",
        "scheduled",
        "running",
        "backing-off",
        "suspended",
        "completed",
    }
    assert result.cli_checks == len(STORY)


#: Pausing and resuming, by hand: random scenarios mostly pick calls that completed long ago.
#: Every answer is pinned on restate-server 1.7.12: 202 for a running or backing-off call, 200
#: and no change for a paused or suspended one, 409 "is not running, cannot be paused" for a
#: pending, scheduled or completed one; resuming a pending or scheduled call is 425, a
#: completed one 409, moving a running or backing-off one 409, moving a call to a removed
#: deployment 400.
PAUSE_STORY: tuple[Step, ...] = (
    Register("v1-a"),  # deployment #0
    Invoke("TicketObject", "reserve", "k1", "slow"),  # invocation #0 holds k1, on v1
    Invoke("TicketObject", "reserve", "k1", "quick"),  # #1 waits behind it: pending
    Invoke("Greeter", "greet", None, "delayed"),  # #2 scheduled
    Pause(0),  # 202: paused, still holding k1
    Pause(0),  # 200, no change
    Pause(1),  # 409: pending
    Pause(2),  # 409: scheduled
    Resume(1),  # 425: pending
    Resume(2, "latest"),  # 425: scheduled
    Register("v2-a"),  # deployment #1: the latest
    Resume(0, "latest"),  # moved to v2, runs again (sleeps)
    Resume(0, 0),  # 409: a running call cannot be moved
    Resume(0),  # 200, no change
    Invoke("Greeter", "greet_twice", None, "slow"),  # #3 on v2
    Pause(3),
    Resume(3, 0),  # v1 has no greet_twice: RT0012, backing-off, pinned to v1
    Resume(3, "latest"),  # 409: a backing-off call cannot be moved
    Pause(3),  # 202: a backing-off call pauses
    Resume(3),  # fails on v1 again: backing-off
    Kill(3),
    Register("v1-rr"),  # deployment #2, request/response
    Pause(0),
    Resume(0, 2),  # moved to v1-rr: sleeps and suspends at once
    Pause(0),  # 200, no change: suspended
    Kill(0),  # #1 starts now, on v1-rr, and completes
    Pause(1),  # 409: completed
    Resume(1),  # 409: completed
    Register("v2-b"),  # deployment #3: the latest
    Invoke("Greeter", "greet", None, "slow"),  # #4 on v2-b
    Pause(4),
    Remove(3),  # force: #4 is paused on a removed deployment
    Resume(4),  # 200: the attempt fails, RT0011, backing-off
    Pause(4),  # 202
    Resume(4, 3),  # 400 "the given deployment was not found"
    Resume(4, "latest"),  # moved to the revision Greeter fell back to: runs again
)


def test_pause_story(pool: EndpointPool) -> None:
    result = _run_story(PAUSE_STORY, pool)
    assert {s.value for s in result.statuses} >= {"paused", "backing-off", "suspended"}


#: The lifecycle of calls that outlive their step, by hand: delayed calls that fall due after
#: the revision they were sent to changed, calls sent from a handler, a kill of their caller,
#: awakeables resolved (where the call runs, and while it is paused), a call whose handler is
#: gone when it falls due, and one that falls due on a held key of a service with no deployment.
LIFECYCLE_STORY: tuple[Step, ...] = (
    Register("v1-a"),  # deployment #0
    Invoke("TicketObject", "hold", "k1", "quick"),  # invocation #0 holds k1
    Invoke("TicketObject", "peek", "k1", "soon"),  # #1, sent to an exclusive peek
    Invoke("TicketObject", "peek", "k1", "quick"),  # #2, exclusive: pending on k1
    Register("v2-a"),  # deployment #1: peek is shared now
    Elapse(),  # #1 falls due and waits on k1: it was sent to an exclusive handler
    Invoke("TicketObject", "peek", "k1", "quick"),  # #3, shared: runs at once
    Invoke("Greeter", "greet_twice", None, "soon"),  # #4
    Register("v1-b"),  # deployment #2: the latest Greeter has no greet_twice
    Elapse(),  # #4 falls due: RT0012, backing-off, pinned nowhere
    Invoke("TicketObject", "send", "k3", "quick"),  # #5 sends #6 and #7 (on k3), #8, #9
    Kill(5),  # #6 and #7, next in line for k3, are kept, completed; #8 (running) completes;
    # #9 (scheduled) is gone
    Resolve(0),  # #0 completes: #2, then #1, run on k1
    Register("v2-b"),  # deployment #3: greet_twice is back, and #4 runs at its next retry
    Invoke("TicketObject", "hold", "k2", "quick"),  # #10 holds k2
    Invoke("TicketObject", "send", "k2", "quick"),  # #11 waits behind it
    Pause(10),
    Resolve(10),  # paused: it stays paused
    Resume(10),  # and completes now: #11 runs, and sends #12 (behind it on k2), #13 (a
    # shared peek now: it runs at once), #14 (behind #12), #15
    Resolve(11),  # #11 completes: #12 runs on k2, and holds it
    Resolve(12),  # #12 completes: #14 runs, and sleeps
    Register("v1-rr"),  # deployment #4, request/response
    Invoke("TicketObject", "hold", "k4", "quick"),  # #16 suspends at once, holding k4
    Resolve(16),  # it resumes and completes
    Invoke("TicketObject", "hold", "k4", "quick"),  # #17 holds k4 (suspended)
    Invoke("TicketObject", "reserve", "k4", "soon"),  # #18
    Remove(4),
    Remove(3),
    Remove(2),
    Remove(1),
    Remove(0),  # TicketObject has no deployment left
    Elapse(),  # #18 falls due: it waits on k4
    Kill(17),  # #18 gets its turn with no deployment: RT0011, backing-off
)


def test_lifecycle_story(pool: EndpointPool) -> None:
    result = _run_story(LIFECYCLE_STORY, pool)
    assert {s.value for s in result.statuses} >= {"pending", "backing-off", "paused"}
    assert result.events == {
        "fell due": 3,
        "sent from a handler": 8,
        "caller killed": 1,
        "awakeable resolved": 5,
    }
