"""Where a deployment is reached, and when two endpoints are the same deployment.

The rules (docs/rules.md, "Deployments and their identity"):

* An endpoint is an absolute ``http``/``https`` URI, or an AWS Lambda function ARN that
  includes the function version.
* Two HTTP endpoints are the same deployment when their authority (host compared
  case-insensitively, and port) and their path are equal. Scheme and query are ignored, and an
  empty path is the same as ``/``. ``http://localhost:9081`` and ``http://127.0.0.1:9081`` are two
  deployments: nothing is resolved. (As on the server, ``/a`` and ``/a/`` are different paths.)
* A Lambda ARN is the same deployment only as the identical string.
* A relative URI is refused with the server's message.

What is refused goes further than the server, which accepts some URIs its own discovery cannot
call: an HTTP endpoint is accepted only if discovery over HTTP (``GET {endpoint}/discover``, as
:class:`~restate_versioning.transport.HttpTransport` makes it) could be attempted. So no
whitespace or control character anywhere; a host that is a valid IPv4 address (when it looks
like one), a valid bracketed IPv6 address, a name of RFC 3986 characters whose labels are 1 to
63 characters long (a trailing dot is allowed), or an internationalized name that IDNA 2008
encodes (as the ``idna`` package does for discovery); a port of ASCII digits up to 65535; and
at most :data:`MAX_ENDPOINT_LENGTH` characters.

Credentials (``http://user:password@host/``): the model never keeps the secret. A parsed
endpoint's ``text`` is the endpoint with its ``user:password@`` replaced by ``***@``
(:func:`redact`), and its identity is computed on that text: this is what a registry keeps,
journals, snapshots and shows, and what every error quotes. So two spellings that differ only
in their credentials are one deployment (going further than the server, which compares them
too and keeps the secret). Whoever calls the endpoint (a transport) uses the text it was given.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from urllib.parse import urlsplit

import attrs
import idna

from .enums import EndpointKind
from .errors import InvalidEndpoint, quote

__all__ = [
    "MAX_ENDPOINT_LENGTH",
    "Endpoint",
    "EndpointKind",
    "display_endpoint",
    "parse_endpoint",
    "redact",
]

#: The longest endpoint accepted: with ``/discover`` appended, the longest URL discovery sends.
MAX_ENDPOINT_LENGTH = 65536 - len("/discover")

_LAMBDA_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}"
    r":(\$LATEST|[A-Za-z0-9_-]+)$"
)
_LAMBDA_ARN_UNVERSIONED = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}$"
)


@attrs.frozen
class Endpoint:
    """A parsed endpoint: the string as given (with any credentials redacted to ``***@``), its
    kind, and the identity key under which two spellings of one deployment compare equal (see
    the module docstring)."""

    text: str
    kind: EndpointKind
    key: str = attrs.field(repr=False)

    def same_deployment(self, other: Endpoint) -> bool:
        """Whether ``other`` names the same deployment as this endpoint."""
        return self.key == other.key


def _not_absolute(text: str) -> InvalidEndpoint:
    return InvalidEndpoint(
        text,
        f"The provided uri {text} is not absolute, only absolute URIs can be used.",
    )


_IPV4_LIKE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$")
_REG_NAME = re.compile(r"^(?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*$")
_PORT = re.compile(r"(?::[0-9]*)?")
_REG_NAME_CHAR = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2}")


def _host_problem(host: str) -> str | None:
    """Why discovery could not reach ``host`` (the authority without userinfo and port, as
    written), or ``None``."""
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1] if host.endswith("]") else host)
        except ValueError:
            return f"its host {host!r} is not a valid IPv6 address"
        return None
    if _IPV4_LIKE.match(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"its host {host!r} is not a valid IPv4 address"
        return None
    if host.isascii():
        if not _REG_NAME.match(host):
            bad = _REG_NAME_CHAR.sub("", host)[:1]
            return f"its host {host!r} has the character {bad!r}, which no host name has"
        labels = host.split(".")
        if labels[-1] == "" and len(labels) > 1:
            labels.pop()  # a trailing dot: the root
        for label in labels:
            if not 0 < len(label) < 64:
                size = "empty" if not label else f"{len(label)} characters long"
                return f"its host {host!r} has a label that is {size} (1 to 63 are allowed)"
        if not host.lower().startswith("xn--"):
            return None
        convert: Callable[[str], object] = idna.decode  # discovery shows it decoded
    else:
        convert = idna.encode
    try:
        convert(host.lower())
    except (UnicodeError, ValueError, IndexError) as exc:
        why = str(exc) or type(exc).__name__
        return f"its host {host!r} is not a valid internationalized domain name: {why}"
    return None


def _credentials_hidden(text: str) -> str:
    """``text`` with anything that may be credentials hidden, wherever it is: whatever comes
    before an ``@`` since the last ``/``, ``?``, ``#`` or ``@`` (``http://user:secret@host``,
    ``user:secret@host``, and any garbled spelling of them) becomes ``***``."""
    if "@" not in text:
        return text
    *segments, last = text.split("@")
    # the run before each "@" back to the last "/", "?" or "#": one pass, whatever the length
    hidden = [s[: max(s.rfind("/"), s.rfind("?"), s.rfind("#")) + 1] + "***" for s in segments]
    return "@".join([*hidden, last])


def parse_endpoint(endpoint: object) -> Endpoint:
    """Check an endpoint and compute its identity (see the module docstring).

    Raises :class:`InvalidEndpoint` quoting it (credentials redacted) and saying why, for
    anything that is not a versioned Lambda ARN or an absolute http(s) URI that discovery could
    call. The returned endpoint's ``text`` never holds a password."""
    if isinstance(endpoint, Endpoint):  # its text decides, never a key made by hand
        endpoint = endpoint.text
    if not isinstance(endpoint, str):
        raise InvalidEndpoint(
            endpoint, f"an endpoint is a URI or Lambda ARN string, not {quote(endpoint)}"
        )
    shown = _credentials_hidden(endpoint)
    if not endpoint or any(not c.isprintable() or c.isspace() for c in endpoint):
        raise InvalidEndpoint(shown, f"the endpoint {shown!r} is empty or has spaces")
    if len(endpoint) > MAX_ENDPOINT_LENGTH:
        raise InvalidEndpoint(
            shown[:100] + "...",
            f"the endpoint {shown[:100] + '...'!r} is {len(endpoint)} characters long: "
            f"discovery sends at most {MAX_ENDPOINT_LENGTH}",
        )
    if endpoint.startswith("arn:"):
        if _LAMBDA_ARN.match(endpoint):
            return Endpoint(text=endpoint, kind=EndpointKind.LAMBDA, key="lambda " + endpoint)
        if _LAMBDA_ARN_UNVERSIONED.match(endpoint):
            raise InvalidEndpoint(
                shown,
                f"the Lambda ARN {shown!r} has no function version: use '{shown}:<version>'",
            )
        raise InvalidEndpoint(shown, f"{shown!r} is not an AWS Lambda function ARN")
    text = redact(endpoint)
    try:
        parts = urlsplit(text)
        port = parts.port  # validates the port
    except ValueError as exc:
        raise InvalidEndpoint(shown, f"the endpoint {shown!r} is not a valid URI: {exc}") from None
    if not parts.scheme or not parts.netloc:
        raise _not_absolute(shown)
    if parts.scheme.lower() not in ("http", "https"):
        if "." in parts.scheme or parts.scheme.isdigit() or not parts.netloc:
            raise _not_absolute(shown)
        raise InvalidEndpoint(
            shown,
            f"the endpoint {shown!r} has scheme {parts.scheme!r}: only http and https "
            f"URIs (or Lambda ARNs) can be deployments",
        )
    if not parts.hostname:
        raise InvalidEndpoint(shown, f"the endpoint {shown!r} has no host")
    del port
    host_port = parts.netloc.rpartition("@")[2]
    if host_port.startswith("["):
        host = host_port[: host_port.find("]") + 1] if "]" in host_port else host_port
    else:
        host = host_port.partition(":")[0]
    rest = host_port[len(host) :]
    problem = _host_problem(host)
    if problem is None and not _PORT.fullmatch(rest):
        problem = f"{rest[1:]!r} after its host {host!r} is not a port"
    if problem is not None:
        raise InvalidEndpoint(shown, f"the endpoint {shown!r} cannot be called: {problem}")
    authority = parts.netloc.lower()
    path = parts.path or "/"
    return Endpoint(text=text, kind=EndpointKind.HTTP, key=f"http {authority}{path}")


def display_endpoint(text: str) -> str:
    """An endpoint as the server prints it: an HTTP URI with an empty path gets its ``/``."""
    scheme, separator, rest = text.partition("://")
    if separator and "/" not in rest.split("?", 1)[0]:
        authority, question, query = rest.partition("?")
        return f"{scheme}://{authority}/{question}{query}"
    return text


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)@")


def redact(text: str) -> str:
    """``text`` with the credentials of a URL (``user:password@``) replaced by ``***@``: how an
    endpoint or an admin URL is shown in messages and kept in stores. Anything that is not
    such a URL comes back as it is."""
    return _USERINFO.sub(r"\1***@", text, count=1) if isinstance(text, str) else text
