"""Discovery: how a deployment's endpoint manifest is fetched, at the edge of the library.

The registry is pure: :meth:`Registry.register <restate_versioning.Registry.register>` takes a
manifest. Fetching it is a :class:`Transport`'s job, and :func:`register_endpoint` runs the
server's whole flow (``POST /deployments``): an endpoint that is already registered is not
discovered again unless ``force`` is given (RESTATE_RULES §2.2); otherwise the endpoint is
discovered and what it answered is registered with its HTTP version and SDK version.

Two transports: :class:`StaticTransport` answers from a table (for harnesses and tests), and
:class:`HttpTransport` makes exactly the request ``restate-server`` makes (``GET
{endpoint}/discover``, the ``Accept`` header of manifest versions 1 to 4, h2c on plain http) and
checks the answer as the server does. It needs ``httpx`` (the ``http`` extra), imported only
when an :class:`HttpTransport` is made. Lambda ARNs are valid endpoints for the
:class:`Transport` interface; :class:`HttpTransport` refuses them.

Everything that goes wrong raises :class:`DiscoveryError` (with Restate's code: ``META0003``
for an unreachable endpoint or a bad status, ``META0013`` for a bad response,
``META0014`` for an HTTP/2 request to what may be an HTTP/1.1-only endpoint). An answer that is
not a valid manifest raises :class:`InvalidDiscoveredManifest`, which is both a
:class:`DiscoveryError` and an :class:`~restate_versioning.errors.InvalidManifest` carrying every
problem. Nothing is registered when discovery fails.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

import attrs

from .endpoints import Endpoint, EndpointKind, parse_endpoint
from .errors import InvalidEndpoint, InvalidManifest, VersioningError
from .manifest import EndpointManifest
from .registry import Registry

if TYPE_CHECKING:
    import httpx

    from .model import Registration
    from .storage.stored import StoredRegistry

__all__ = [
    "ACCEPT",
    "MANIFEST_CONTENT_TYPES",
    "RETRYABLE_STATUSES",
    "Discovery",
    "DiscoveryError",
    "HttpTransport",
    "InvalidDiscoveredManifest",
    "StaticTransport",
    "Transport",
    "register_endpoint",
]

#: The content types of the endpoint manifest versions the server understands, in its order.
MANIFEST_CONTENT_TYPES: tuple[str, ...] = tuple(
    f"application/vnd.restate.endpointmanifest.v{version}+json" for version in (1, 2, 3, 4)
)
#: The ``Accept`` header of the server's discovery request.
ACCEPT = ", ".join(MANIFEST_CONTENT_TYPES)
#: The statuses after which the server tries discovery again (``DiscoveryError::is_retryable``).
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

_DISCOVER_PATH = "/discover"
_ERROR_BODY_BYTES = 1024
#: ``httpx`` names HTTP/2 ``"HTTP/2"``; the server prints the version as ``"HTTP/2.0"``.
_HTTP_VERSIONS = {"HTTP/2": "HTTP/2.0", "HTTP/3": "HTTP/3.0"}


@attrs.frozen
class Discovery:
    """What an endpoint answered to discovery: its manifest, the HTTP version of the answer as
    the server prints it (``"HTTP/2.0"``, ``"HTTP/1.1"``; ``None`` for Lambda or when unknown)
    and the SDK that served it (the ``x-restate-server`` header, e.g.
    ``"restate-sdk-python/1.3.0"``), as :meth:`Registry.register` records them."""

    manifest: EndpointManifest
    http_version: str | None = None
    sdk_version: str | None = None


class DiscoveryError(VersioningError):
    """The endpoint's manifest could not be fetched, or its answer is not one the server
    accepts. ``endpoint`` is the endpoint as given; ``status`` the HTTP status of the answer
    (``None`` if there was none); ``code`` Restate's code where it has one (``META0003``:
    unreachable, timed out, or a bad status such as 404; ``META0013``: a bad response, e.g. a
    wrong content type; ``META0014``: HTTP/2 refused by what may be an HTTP/1.1-only endpoint).
    ``reason`` is the message without the endpoint."""

    def __init__(
        self,
        endpoint: str,
        reason: str,
        *,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.reason = reason
        self.status = status
        self.code = code
        super().__init__(f"error when discovering {endpoint!r}: {reason}")


class InvalidDiscoveredManifest(DiscoveryError, InvalidManifest):
    """The endpoint answered, but not with a valid endpoint manifest (malformed JSON, unknown
    or missing fields...). Both a :class:`DiscoveryError` (``endpoint``, ``status``) and an
    :class:`~restate_versioning.errors.InvalidManifest`: ``problems`` lists every problem and
    ``code`` is the first problem's code (the server has none for a manifest it cannot
    decode)."""

    def __init__(self, endpoint: str, invalid: InvalidManifest, *, status: int | None) -> None:
        # Not through the two parents' __init__s: their super() calls would chain into each
        # other. The attributes of both are set here.
        self.problems = invalid.problems
        self.endpoint = endpoint
        self.reason = invalid.message
        self.status = status
        self.code = invalid.code
        VersioningError.__init__(self, f"{endpoint!r} answered discovery with an {invalid.message}")

    def __str__(self) -> str:
        return self.message


class Transport(Protocol):
    """Fetches an endpoint's manifest, as the server's discovery does.

    ``discover(endpoint)`` takes any endpoint the registry accepts (an ``http(s)`` URI or a
    versioned Lambda ARN) and returns a :class:`Discovery`, or raises :class:`DiscoveryError`
    (or its subclass :class:`InvalidDiscoveredManifest`, with every problem of an answer that
    is not a valid manifest). A transport that cannot reach a kind of endpoint raises
    :class:`DiscoveryError` saying so. It never changes a registry.
    """

    def discover(self, endpoint: str) -> Discovery: ...


def _parse(endpoint: str) -> Endpoint:
    try:
        return parse_endpoint(endpoint)
    except InvalidEndpoint as exc:
        raise DiscoveryError(endpoint, exc.message) from exc


class StaticTransport:
    """A :class:`Transport` that answers from a table, for harnesses and tests.

    ``manifests`` maps endpoints (any spelling: looked up by endpoint identity, as the registry
    does) to a :class:`Discovery`, an :class:`EndpointManifest`, or its JSON (a ``dict`` or a
    string), read at each discovery. An unknown endpoint raises :class:`DiscoveryError`
    (``META0003``, status 404, as a missing ``/discover`` would); an answer that is not a valid
    manifest raises :class:`InvalidDiscoveredManifest`. ``discovered`` lists the endpoints
    discovered so far, in order.
    """

    def __init__(
        self,
        manifests: Mapping[str, Discovery | EndpointManifest | Mapping[str, Any] | str],
    ) -> None:
        self._answers = {parse_endpoint(key).key: value for key, value in manifests.items()}
        self.discovered: list[str] = []

    def discover(self, endpoint: str) -> Discovery:
        """The answer registered for ``endpoint``; see the class docstring."""
        parsed = _parse(endpoint)
        self.discovered.append(endpoint)
        answer = self._answers.get(parsed.key)
        if answer is None:
            raise DiscoveryError(
                endpoint,
                "bad status code '404 Not Found': no such endpoint",
                status=404,
                code="META0003",
            )
        if isinstance(answer, Discovery):
            return answer
        if isinstance(answer, EndpointManifest):
            return Discovery(answer)
        try:
            return Discovery(EndpointManifest.from_json(answer))
        except InvalidManifest as exc:
            raise InvalidDiscoveredManifest(endpoint, exc, status=200) from exc


class HttpTransport:
    """A :class:`Transport` that makes the server's discovery request over HTTP, with
    ``httpx`` (the ``http`` extra).

    The request: ``GET {endpoint without trailing slash}/discover`` with ``Accept:``
    :data:`ACCEPT`, plus ``headers[endpoint]`` (the deployment's additional headers, looked up
    by endpoint identity; they replace a default header of the same name, ``Accept``
    included). ``http_version="2"`` speaks HTTP/2 with prior knowledge (h2c) to ``http://``
    endpoints, as the server does, and negotiates with ALPN on ``https://``; ``"1.1"`` speaks
    HTTP/1.1 only. Redirects are never followed.

    The answer: a 2xx whose ``content-type`` is exactly one of :data:`MANIFEST_CONTENT_TYPES`
    and whose body, at most ``max_response_bytes`` long, is a valid manifest. Statuses in
    :data:`RETRYABLE_STATUSES`, unreachable endpoints and timeouts are tried again, up to
    ``retries`` more times, waiting ``backoff`` seconds, then twice as long each time. Each
    attempt waits at most ``timeout`` seconds for the connection and for each read, and its
    body must arrive within ``timeout``; all attempts and waits together end within
    ``timeout * (retries + 1)`` (give or take one connection attempt).

    Raises :class:`DiscoveryError`: ``META0003`` for an endpoint that cannot be reached or
    times out, a 404 (wrong path), a redirect (its ``Location`` named), any other non-2xx;
    ``META0013`` for a missing or wrong content type or a body over ``max_response_bytes``;
    ``META0014`` when HTTP/2 fails in a way that suggests an HTTP/1.1-only endpoint; no code
    for a Lambda ARN (it needs a Lambda transport) or an invalid endpoint. A body that is not a
    valid manifest raises :class:`InvalidDiscoveredManifest` with every problem.

    ``client``: an ``httpx.Client`` to use instead of one made per discovery (its own HTTP
    version settings then apply; it is not closed).
    """

    def __init__(
        self,
        *,
        http_version: Literal["2", "1.1"] = "2",
        timeout: float = 10,
        max_response_bytes: int = 1024 * 1024,
        retries: int = 3,
        backoff: float = 0.2,
        headers: Mapping[str, Mapping[str, str]] | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        import httpx  # noqa: F401 -- fail now, not at the first discovery, without the extra

        if http_version not in ("2", "1.1"):
            raise ValueError(f"http_version must be '2' or '1.1', not {http_version!r}")
        if timeout <= 0 or max_response_bytes <= 0 or retries < 0 or backoff < 0:
            raise ValueError(
                "timeout and max_response_bytes must be positive, retries and backoff not "
                f"negative: got {timeout!r}, {max_response_bytes!r}, {retries!r}, {backoff!r}"
            )
        self.http_version = http_version
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.retries = retries
        self.backoff = backoff
        self._headers = {
            parse_endpoint(key).key: dict(value) for key, value in (headers or {}).items()
        }
        self._client = client

    def discover(self, endpoint: str) -> Discovery:
        """Discover ``endpoint`` over HTTP; see the class docstring."""
        import httpx

        parsed = _parse(endpoint)
        if parsed.kind is EndpointKind.LAMBDA:
            raise DiscoveryError(
                endpoint,
                "it is an AWS Lambda ARN: discovering it needs a Lambda transport "
                "(HttpTransport only speaks http and https)",
            )
        url = endpoint.rstrip("/") + _DISCOVER_PATH
        headers = {"accept": ACCEPT, **self._headers.get(parsed.key, {})}
        if self._client is not None:
            return self._attempts(self._client, endpoint, url, headers)
        h2 = self.http_version == "2"
        https = url.lower().startswith("https:")
        with httpx.Client(http1=not h2 or https, http2=h2) as client:
            del client.headers["accept-encoding"]  # the size limit counts the real bytes
            return self._attempts(client, endpoint, url, headers)

    def _attempts(
        self, client: httpx.Client, endpoint: str, url: str, headers: dict[str, str]
    ) -> Discovery:
        deadline = time.monotonic() + self.timeout * (self.retries + 1)
        wait = self.backoff
        for attempt in range(self.retries + 1):
            remaining = deadline - time.monotonic()
            if attempt > 0:
                if remaining <= wait + 0.001:
                    break  # no time left for another attempt after the wait
                time.sleep(wait)
                wait *= 2
                remaining = deadline - time.monotonic()
            try:
                return self._attempt(client, endpoint, url, headers, min(self.timeout, remaining))
            except _Retryable as retry:
                error = retry.error
        raise error

    def _attempt(
        self,
        client: httpx.Client,
        endpoint: str,
        url: str,
        headers: dict[str, str],
        timeout: float,
    ) -> Discovery:
        import httpx

        started = time.monotonic()
        try:
            with client.stream(
                "GET",
                url,
                headers=headers,
                timeout=httpx.Timeout(timeout),
                follow_redirects=False,
            ) as response:
                status = response.status_code
                if not 200 <= status < 300:
                    raise self._bad_status(endpoint, response)
                content_type = response.headers.get("content-type")
                if content_type not in MANIFEST_CONTENT_TYPES:
                    what = (
                        f"bad content type header: {content_type!r}"
                        if content_type is not None
                        else "no content type header"
                    )
                    raise DiscoveryError(
                        endpoint,
                        f"received a bad response from the SDK: {what}. Expected one of {ACCEPT!r}",
                        status=status,
                        code="META0013",
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > self.max_response_bytes:
                        raise DiscoveryError(
                            endpoint,
                            f"received a bad response from the SDK: the manifest is larger "
                            f"than {self.max_response_bytes} bytes",
                            status=status,
                            code="META0013",
                        )
                    if time.monotonic() - started > timeout:
                        raise httpx.ReadTimeout("the body took too long")
                http_version = _HTTP_VERSIONS.get(response.http_version, response.http_version)
                sdk_version = response.headers.get("x-restate-server")
        except httpx.TimeoutException as exc:
            raise _Retryable(
                DiscoveryError(
                    endpoint,
                    f"error when calling {url!r}: no answer within {timeout:.3g} s ({exc})",
                    code="META0003",
                )
            ) from exc
        except httpx.TransportError as exc:
            code = "META0003"
            reason = f"error when calling {url!r}: {type(exc).__name__}: {exc}"
            h2c = self.http_version == "2" and not url.lower().startswith("https:")
            if h2c and isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
                code = "META0014"
                reason += (
                    " (the endpoint may only speak HTTP/1.1: discover it with "
                    "HttpTransport(http_version='1.1'))"
                )
            raise _Retryable(DiscoveryError(endpoint, reason, code=code)) from exc
        try:
            manifest = EndpointManifest.from_json(bytes(body))
        except InvalidManifest as exc:
            raise InvalidDiscoveredManifest(endpoint, exc, status=status) from exc
        return Discovery(manifest, http_version=http_version, sdk_version=sdk_version)

    def _bad_status(self, endpoint: str, response: httpx.Response) -> Exception:
        status = response.status_code
        phrase = f"{status} {response.reason_phrase}".strip()
        if 300 <= status < 400:
            location = response.headers.get("location")
            return DiscoveryError(
                endpoint,
                f"bad status code '{phrase}': redirects are not followed (it redirects to "
                f"{location!r}; register the URL that serves discovery instead)",
                status=status,
                code="META0003",
            )
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) >= _ERROR_BODY_BYTES:
                break
        text = bytes(body[:_ERROR_BODY_BYTES]).decode("utf-8", errors="replace")
        hint = ""
        if status == 404:
            hint = (
                f" (wrong path? discovery asks GET {str(response.url)!r}: register the SDK's "
                f"base URL, without /discover)"
            )
        error = DiscoveryError(
            endpoint,
            f"bad status code '{phrase}'{hint}. Body: {text!r}",
            status=status,
            code="META0003",
        )
        return _Retryable(error) if status in RETRYABLE_STATUSES else error


class _Retryable(Exception):
    """Carries a :class:`DiscoveryError` that is worth another attempt."""

    def __init__(self, error: DiscoveryError) -> None:
        super().__init__(str(error))
        self.error = error


def register_endpoint(
    registry: Registry | StoredRegistry,
    endpoint: str,
    transport: Transport,
    *,
    force: bool = False,
    breaking: bool = False,
    dry_run: bool = False,
    state: Mapping[str, Mapping[str, Any]] | None = None,
) -> Registration:
    """Register what ``endpoint`` serves, exactly as ``POST /deployments`` does.

    An endpoint that is already registered, without ``force``, is not discovered: the result is
    ``UNCHANGED`` and the stored deployment (RESTATE_RULES §2.2), whatever it serves now.
    Otherwise ``transport`` discovers it and the answer is registered with the discovered
    HTTP version and SDK version (see :meth:`Registry.register`). Raises
    :class:`~restate_versioning.errors.InvalidEndpoint` before any discovery,
    :class:`DiscoveryError` (nothing is registered), or what :meth:`Registry.register`
    raises. Works on a :class:`Registry` and on a
    :class:`~restate_versioning.storage.StoredRegistry`. ``state`` declares state keys as
    :meth:`Registry.register` takes them.
    """
    view = registry if isinstance(registry, Registry) else registry.registry
    existing = view.find_deployment(endpoint)
    if existing is not None and not force:
        # Not read for an UNCHANGED outcome: the registry only reads the manifest when needed.
        known: EndpointManifest | dict[str, Any] = existing.manifest or {}
        return registry.register(endpoint, known, breaking=breaking, dry_run=dry_run)
    discovery = transport.discover(endpoint)
    return registry.register(
        endpoint,
        discovery.manifest,
        force=force,
        breaking=breaking,
        dry_run=dry_run,
        http_version=discovery.http_version,
        sdk_version=discovery.sdk_version,
        state=state,
    )
