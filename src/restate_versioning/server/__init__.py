"""Restate's admin API and ingress, served from the model: a fast, faithful stand-in for a
restate-server 1.7.12 in tests and harnesses, in any language (the ``server`` extra).

``with AdminServer(registry) as server:`` serves a :class:`~restate_versioning.Registry` or a
:class:`~restate_versioning.storage.StoredRegistry` on ``127.0.0.1`` and free ports, in a
background thread; ``server.admin_url`` is what the ``restate`` CLI takes as
``RESTATE_ADMIN_URL``. ``restate-versioning serve`` does the same in the foreground.

The admin API (:func:`~restate_versioning.server.apps.admin_app`): ``GET /health``,
``GET /version``; ``GET|POST /deployments`` (``POST`` discovers the endpoint through a
:class:`~restate_versioning.transport.Transport` and registers it with ``force``,
``breaking`` and ``dry_run``), ``GET|PATCH|DELETE /deployments/{id}`` (``PATCH`` moves a
deployment to another address serving the same code); ``GET /services``,
``GET|PATCH /services/{name}`` (visibility, retentions and timeouts),
``GET /services/{name}/handlers[/{handler}]``;
``PATCH /invocations/{id}/kill|cancel|pause|resume|purge|restart-as-new`` (``?deployment=``
on resume) and the deprecated ``DELETE /invocations/{id}?mode=``;
``POST /query``, SQL over the server's tables (:mod:`~restate_versioning.server.tables`),
answered by DataFusion (:mod:`~restate_versioning.server.query`). Requests are read, and bad
ones refused, as the server reads them (:mod:`~restate_versioning.server.bodies`); refusals
are answered with the server's status codes, words and shapes
(:mod:`~restate_versioning.server.problems`), and change nothing.

The ingress (:func:`~restate_versioning.server.ingress.ingress_app`):
``/{service}/{handler}`` and ``/{service}/{key}/{handler}``, with ``/send``, ``?delay=`` and
``idempotency-key``; ``/restate/health``, and the outputs of calls and workflow runs
(``/restate/invocation/...``, ``/restate/workflow/...``). No handler code runs: a call waits,
as a caller of the real ingress waits, until the control API moves it.

The control API, the one part that is not Restate's, under ``/restate-versioning/`` on the
admin port (a prefix no Restate route or service can have): ``POST
/restate-versioning/invocations/{id}/complete|suspend|pin|fail`` moves a call as its handler
would, and ``POST /restate-versioning/clock`` moves a served
:class:`~restate_versioning.clock.ManualClock` forward.
"""

from __future__ import annotations

from .apps import CONTROL_PREFIX, VERSION, admin_app
from .ingress import ingress_app
from .running import AdminServer, by_port, serve
from .state import ServedRegistry

__all__ = [
    "CONTROL_PREFIX",
    "VERSION",
    "AdminServer",
    "ServedRegistry",
    "admin_app",
    "by_port",
    "ingress_app",
    "serve",
]
