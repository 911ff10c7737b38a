"""Discovery: how a deployment's endpoint manifest is fetched, at the edge of the library.

The registry is pure: :meth:`Registry.register <restate_versioning.Registry.register>` takes a
manifest. Fetching it is a :class:`Transport`'s job, and :func:`register_endpoint` runs the
server's whole flow (``POST /deployments``): an endpoint that is already registered is not
discovered again unless ``force`` is given (docs/rules.md, "Registering"); otherwise the
endpoint is discovered and what it answered is registered with its HTTP version and SDK version
(docs/rules.md, "Discovery").

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

import importlib.util
import re
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

from . import _json
from .endpoints import Endpoint, EndpointKind, parse_endpoint, redact
from .errors import InvalidEndpoint, InvalidManifest, Problem, VersioningError
from .manifest import MAX_MANIFEST_BYTES, EndpointManifest
from .manifest import Discovery as Discovery  # its home is the manifest's module
from .registry import Registry

if TYPE_CHECKING:
    import httpx

    from ._http import Deadline
    from .rules.registration import Registration
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


class DiscoveryError(VersioningError):
    """The endpoint's manifest could not be fetched, or its answer is not one the server
    accepts. ``endpoint`` is the endpoint as given; ``status`` the HTTP status of the answer
    (``None`` if there was none); ``code`` Restate's code where it has one (``META0003``:
    unreachable, timed out, or a bad status such as 404; ``META0013``: a bad response, e.g. a
    wrong content type; ``META0014``: HTTP/2 refused by what may be an HTTP/1.1-only endpoint).
    ``reason`` is the message without the endpoint.

    Credentials in the endpoint (``http://user:secret@host/``) are never shown: ``endpoint``,
    ``reason`` and the message have them as ``***@`` (:func:`~restate_versioning.endpoints.redact`),
    while the request itself went to the endpoint as given."""

    def __init__(
        self,
        endpoint: str,
        reason: str,
        *,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        self.endpoint = redact(endpoint)
        self.reason = _scrub(reason, endpoint)
        self.status = status
        self.code = code
        super().__init__(f"error when discovering {self.endpoint!r}: {self.reason}")


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
        self.endpoint = redact(endpoint)
        self.reason = _scrub(invalid.message, endpoint)
        self.status = status
        self.code = invalid.code
        VersioningError.__init__(
            self, f"{self.endpoint!r} answered discovery with an {self.reason}"
        )

    def __str__(self) -> str:
        return self.message


def _scrub(text: str, endpoint: str) -> str:
    """``text`` without the credentials of ``endpoint`` (as ``***@``), wherever they appear."""
    netloc = re.split(r"[/?#]", endpoint.partition("://")[2], maxsplit=1)[0]
    userinfo, at, _ = netloc.rpartition("@")
    return text.replace(userinfo + "@", "***@") if at and userinfo else text


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
    :data:`ACCEPT` and ``Accept-Encoding: identity``, plus ``headers[endpoint]`` (the
    deployment's additional headers, looked up by endpoint identity; they replace a default
    header of the same name, ``Accept`` included). ``http_version="2"`` speaks HTTP/2 with prior
    knowledge (h2c) to ``http://`` endpoints, as the server does, and negotiates with ALPN on
    ``https://``; ``"1.1"`` speaks HTTP/1.1 only. Redirects are never followed. Credentials in
    the endpoint's URL are sent (as Basic authentication), never shown (see
    :class:`DiscoveryError`).

    The answer: a 2xx whose ``content-type`` is exactly one of :data:`MANIFEST_CONTENT_TYPES`,
    with no ``content-encoding`` but ``identity``, and whose body, at most
    ``max_response_bytes`` long, is a valid manifest. Statuses in :data:`RETRYABLE_STATUSES`,
    unreachable endpoints and timeouts are tried again, up to ``retries`` more times, waiting
    ``backoff`` seconds, then twice as long each time.

    Time: one monotonic deadline bounds each attempt (``timeout`` seconds, headers and body
    together) and another all of them with their waits (``timeout * (retries + 1)``), whatever
    the peer does: headers trickled a byte at a time, a flood of ``100 Continue`` answers, or
    HTTP/2 PING, SETTINGS, WINDOW_UPDATE or one-byte DATA frames never extend them (no connect,
    read or write waits past the deadline; see ``restate_versioning._http``). Memory: the body is
    read as it came, never decoded, up to ``max_response_bytes``; an encoded answer (a gzip
    bomb) is refused before its body is read. Both go further than the real server's behaviour
    that this library models: they are the library's own hardening of an edge adapter.

    Raises :class:`DiscoveryError`: ``META0003`` for an endpoint that cannot be reached or
    times out, a 404 (wrong path), a redirect (its ``Location`` named), any other non-2xx;
    ``META0013`` for a missing or wrong content type, an encoded body or a body over
    ``max_response_bytes``; ``META0014`` when HTTP/2 fails in a way that suggests an
    HTTP/1.1-only endpoint; no code for a Lambda ARN (it needs a Lambda transport), an invalid
    endpoint, or a proxy of the environment that cannot be used. A body that is not a valid
    manifest raises :class:`InvalidDiscoveredManifest` with every problem. Nothing else
    escapes: whatever the peer sends, the error is one of these.

    ``trust_env``: whether the environment is read (proxy variables such as ``HTTP_PROXY`` and
    ``ALL_PROXY``, ``NO_PROXY``, ``SSL_CERT_FILE``); by default it is not, and discovery goes
    straight to the endpoint.

    ``client``: an ``httpx.Client`` to use instead of one made per discovery (its own HTTP
    version, proxy and environment settings then apply; it is not closed). Its transport is its
    own: each of its reads then waits at most ``timeout`` and the deadline is checked between
    the pieces of the body, but what happens within one read is up to that transport.
    """

    def __init__(
        self,
        *,
        http_version: Literal["2", "1.1"] = "2",
        timeout: float = 10,
        max_response_bytes: int = MAX_MANIFEST_BYTES,
        retries: int = 3,
        backoff: float = 0.2,
        headers: Mapping[str, Mapping[str, str]] | None = None,
        client: httpx.Client | None = None,
        trust_env: bool = False,
    ) -> None:
        import httpx  # noqa: F401 -- fail now, not at the first discovery, without the extra

        if http_version not in ("2", "1.1"):
            raise ValueError(f"http_version must be '2' or '1.1', not {http_version!r}")
        if http_version == "2" and importlib.util.find_spec("h2") is None:
            raise ImportError(
                "HttpTransport speaks HTTP/2 (h2c, as the server does) unless "
                "http_version='1.1', and that needs 'h2': pip install 'restate-versioning[http]'",
                name="h2",
            )
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
        self.trust_env = trust_env
        self._headers = {
            parse_endpoint(key).key: dict(value) for key, value in (headers or {}).items()
        }
        self._client = client

    def discover(self, endpoint: str) -> Discovery:
        """Discover ``endpoint`` over HTTP; see the class docstring."""
        import httpx

        from ._http import Deadline, DeadlineTransport, environment_proxy

        parsed = _parse(endpoint)
        if parsed.kind is EndpointKind.LAMBDA:
            raise DiscoveryError(
                endpoint,
                "it is an AWS Lambda ARN: discovering it needs a Lambda transport "
                "(HttpTransport only speaks http and https)",
            )
        url = endpoint.rstrip("/") + _DISCOVER_PATH
        headers = {"accept": ACCEPT, "accept-encoding": "identity"}
        headers.update(self._headers.get(parsed.key, {}))
        deadline = Deadline()
        if self._client is not None:
            return self._attempts(self._client, endpoint, url, headers, deadline)
        try:
            proxy = environment_proxy(url, self.trust_env)
        except ValueError as exc:
            raise DiscoveryError(endpoint, f"cannot use the proxy: {exc}") from None
        h2 = self.http_version == "2"
        https = url.lower().startswith("https:")
        transport = DeadlineTransport(
            deadline, http1=not h2 or https, http2=h2, proxy=proxy, trust_env=self.trust_env
        )
        with httpx.Client(
            transport=transport, trust_env=self.trust_env, follow_redirects=False
        ) as client:
            return self._attempts(client, endpoint, url, headers, deadline)

    def _attempts(
        self,
        client: httpx.Client,
        endpoint: str,
        url: str,
        headers: dict[str, str],
        deadline: Deadline,
    ) -> Discovery:
        end = time.monotonic() + self.timeout * (self.retries + 1)
        wait = self.backoff
        for attempt in range(self.retries + 1):
            remaining = end - time.monotonic()
            if attempt > 0:
                if remaining <= wait + 0.001:
                    break  # no time left for another attempt after the wait
                time.sleep(wait)
                wait *= 2
                remaining = end - time.monotonic()
            timeout = min(self.timeout, remaining)
            deadline.start(timeout)
            try:
                return self._attempt(client, endpoint, url, headers, timeout, deadline)
            except _Retryable as retry:
                error = retry.error
            finally:
                deadline.stop()
        raise error

    def _attempt(
        self,
        client: httpx.Client,
        endpoint: str,
        url: str,
        headers: dict[str, str],
        timeout: float,
        deadline: Deadline,
    ) -> Discovery:
        import httpx

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
                    raise self._bad_status(endpoint, response, deadline)
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
                encoding = _encoding(response)
                if encoding is not None:
                    raise DiscoveryError(
                        endpoint,
                        f"received a bad response from the SDK: its body is encoded with "
                        f"{encoding!r}; discovery asks for identity only (Accept-Encoding: "
                        f"identity) and does not decode",
                        status=status,
                        code="META0013",
                    )
                body = bytearray()
                for chunk in _raw(response):
                    body += chunk
                    if len(body) > self.max_response_bytes:
                        raise DiscoveryError(
                            endpoint,
                            f"received a bad response from the SDK: the manifest is larger "
                            f"than {self.max_response_bytes} bytes",
                            status=status,
                            code="META0013",
                        )
                    if deadline.passed():
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
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise DiscoveryError(
                endpoint,
                f"error when calling {url!r}: {type(exc).__name__}: {exc}",
                code="META0003",
            ) from exc
        try:
            # Strict and bounded, as the server's serde_json reads it: no NaN, no key twice,
            # UTF-8 only, at most _json.MAX_DEPTH levels (deeper is an error, not a crash).
            document = _json.loads(body, max_bytes=self.max_response_bytes)
        except _json.JsonError as exc:
            invalid = InvalidManifest([Problem(exc.path, exc.reason)])
            raise InvalidDiscoveredManifest(endpoint, invalid, status=status) from None
        try:
            manifest = EndpointManifest.from_json(document)
        except InvalidManifest as exc:
            raise InvalidDiscoveredManifest(endpoint, exc, status=status) from exc
        return Discovery(manifest, http_version=http_version, sdk_version=sdk_version)

    def _bad_status(self, endpoint: str, response: httpx.Response, deadline: Deadline) -> Exception:
        status = response.status_code
        phrase = f"{status} {response.reason_phrase}".strip()
        if 300 <= status < 400:
            location = response.headers.get("location")
            return DiscoveryError(
                endpoint,
                f"bad status code '{phrase}': redirects are not followed (it redirects to "
                f"{redact(location) if location is not None else None!r}; register the URL "
                f"that serves discovery instead)",
                status=status,
                code="META0003",
            )
        encoding = _encoding(response)
        if encoding is not None:
            text = f"(not shown: encoded with {encoding!r})"
        else:
            body = bytearray()
            for chunk in _raw(response):
                body += chunk
                if len(body) >= _ERROR_BODY_BYTES or deadline.passed():
                    break
            text = repr(bytes(body[:_ERROR_BODY_BYTES]).decode("utf-8", errors="replace"))
        hint = ""
        if status == 404:
            hint = (
                f" (wrong path? discovery asks GET {redact(str(response.url))!r}: register the "
                f"SDK's base URL, without /discover)"
            )
        error = DiscoveryError(
            endpoint,
            f"bad status code '{phrase}'{hint}. Body: {text}",
            status=status,
            code="META0003",
        )
        return _Retryable(error) if status in RETRYABLE_STATUSES else error


def _raw(response: httpx.Response) -> Iterable[bytes]:
    """The body as it came, never decoded (an answer already in memory, as an
    ``httpx.MockTransport`` gives, as it is)."""
    return [response.content] if response.is_stream_consumed else response.iter_raw()


def _encoding(response: httpx.Response) -> str | None:
    """The ``content-encoding`` of an answer, unless it is none or ``identity``."""
    values = response.headers.get_list("content-encoding", split_commas=True)
    encodings = [v.strip().lower() for v in values if v.strip().lower() not in ("", "identity")]
    return ", ".join(encodings) if encodings else None


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
    ``UNCHANGED`` and the stored deployment (docs/rules.md, "Registering"), whatever it serves now.
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
