"""Where a deployment is reached, and when two endpoints are the same deployment.

The rules (RESTATE_RULES §1.1-1.3):

* An endpoint is an absolute ``http``/``https`` URI, or an AWS Lambda function ARN that
  includes the function version.
* Two HTTP endpoints are the same deployment when their authority (host compared
  case-insensitively, and port) and their path are equal. Scheme and query are ignored, and an
  empty path is the same as ``/``. ``http://localhost:9081`` and ``http://127.0.0.1:9081`` are two
  deployments: nothing is resolved. (As on the server, ``/a`` and ``/a/`` are different paths.)
* A Lambda ARN is the same deployment only as the identical string.
* A relative URI is refused with the server's message.
"""

from __future__ import annotations

import enum
import re
from urllib.parse import urlsplit

import attrs

from .errors import InvalidEndpoint

__all__ = ["Endpoint", "EndpointKind", "display_endpoint", "parse_endpoint", "redact"]

_LAMBDA_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}"
    r":(\$LATEST|[A-Za-z0-9_-]+)$"
)
_LAMBDA_ARN_UNVERSIONED = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}$"
)


class EndpointKind(enum.Enum):
    """How a deployment is reached."""

    HTTP = "http"
    LAMBDA = "lambda"


@attrs.frozen
class Endpoint:
    """A parsed endpoint: the string as given, its kind, and the identity key under which two
    spellings of one deployment compare equal (see the module docstring)."""

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


def parse_endpoint(endpoint: object) -> Endpoint:
    """Check an endpoint and compute its identity; raises :class:`InvalidEndpoint` quoting it."""
    if isinstance(endpoint, Endpoint):  # its text decides, never a key made by hand
        endpoint = endpoint.text
    if not isinstance(endpoint, str):
        raise InvalidEndpoint(
            endpoint, f"an endpoint is a URI or Lambda ARN string, not {endpoint!r}"
        )
    text = endpoint.strip()
    if text != endpoint or not text:
        raise InvalidEndpoint(endpoint, f"the endpoint {endpoint!r} is empty or has spaces")
    if text.startswith("arn:"):
        if _LAMBDA_ARN.match(text):
            return Endpoint(text=text, kind=EndpointKind.LAMBDA, key="lambda " + text)
        if _LAMBDA_ARN_UNVERSIONED.match(text):
            raise InvalidEndpoint(
                endpoint,
                f"the Lambda ARN {endpoint!r} has no function version: use '{endpoint}:<version>'",
            )
        raise InvalidEndpoint(endpoint, f"{endpoint!r} is not an AWS Lambda function ARN")
    try:
        parts = urlsplit(text)
        port = parts.port  # validates the port
    except ValueError as exc:
        raise InvalidEndpoint(
            endpoint, f"the endpoint {endpoint!r} is not a valid URI: {exc}"
        ) from None
    if not parts.scheme or not parts.netloc:
        raise _not_absolute(text)
    if parts.scheme.lower() not in ("http", "https"):
        if "." in parts.scheme or parts.scheme.isdigit() or not parts.netloc:
            raise _not_absolute(text)
        raise InvalidEndpoint(
            endpoint,
            f"the endpoint {endpoint!r} has scheme {parts.scheme!r}: only http and https "
            f"URIs (or Lambda ARNs) can be deployments",
        )
    if not parts.hostname:
        raise InvalidEndpoint(endpoint, f"the endpoint {endpoint!r} has no host")
    del port
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
