"""Endpoints and deployment identity (docs/rules.md, "Deployments and their identity").

    A deployment is reached at an endpoint: an HTTP(S) URL or an AWS Lambda ARN that includes the
    function version. Two HTTP endpoints are the same deployment when authority (host compared
    case-insensitively, port) and path are equal; scheme, query and a trailing slash are ignored.
    A Lambda ARN matches only the identical string. A relative URI is rejected.

What restate-server 1.7.12 did is quoted from /tmp/obs/transcript.md: ``http://127.0.0.1:9084`` and
``http://127.0.0.1:9084/`` were one deployment (6.0a), ``http://127.0.0.1:9090/ysame`` and
``http://127.0.0.1:9090/ysame/`` two (4.y5): the trailing slash is ignored only on an empty path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from restate_versioning import (
    Endpoint,
    EndpointKind,
    InvalidEndpoint,
    Outcome,
    Registry,
    SequentialIds,
    VersioningError,
    parse_endpoint,
)

LAMBDA = "arn:aws:lambda:eu-central-1:123456789012:function:greeter"


def manifest(*services: str, handlers: tuple[str, ...] = ("greet",)) -> dict[str, Any]:
    return {
        "protocolMode": "REQUEST_RESPONSE",
        "minProtocolVersion": 5,
        "maxProtocolVersion": 7,
        "services": [
            {"name": name, "ty": "SERVICE", "handlers": [{"name": h} for h in handlers]}
            for name in services
        ],
    }


def new_registry() -> Registry:
    return Registry(clock=lambda: datetime(2026, 11, 26, 5, 42, tzinfo=UTC), ids=SequentialIds())


# --- what an endpoint is --------------------------------------------------------------------

VALID_ENDPOINTS = [
    ("http://127.0.0.1:9081", EndpointKind.HTTP),
    ("http://127.0.0.1:9081/", EndpointKind.HTTP),
    ("https://greeter.example.com/restate/v1", EndpointKind.HTTP),
    ("HTTPS://Greeter.Example.com:443/", EndpointKind.HTTP),
    ("http://localhost:9080/?token=x", EndpointKind.HTTP),
    ("http://[::1]:9081/", EndpointKind.HTTP),
    ("http://greeter", EndpointKind.HTTP),
    (LAMBDA + ":1", EndpointKind.LAMBDA),
    (LAMBDA + ":$LATEST", EndpointKind.LAMBDA),
    (LAMBDA + ":prod", EndpointKind.LAMBDA),
    ("arn:aws-cn:lambda:cn-north-1:123456789012:function:my_fn-2:7", EndpointKind.LAMBDA),
    ("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f:1", EndpointKind.LAMBDA),
]


@pytest.mark.parametrize(("text", "kind"), VALID_ENDPOINTS)
def test_an_endpoint_is_an_absolute_http_uri_or_a_versioned_lambda_arn(
    text: str, kind: EndpointKind
) -> None:
    """(docs/rules.md, "Deployments and their identity"): an endpoint is an absolute HTTP(S) URI
    or an AWS Lambda ARN with its function version. The text is kept as given."""
    endpoint = parse_endpoint(text)
    assert endpoint.kind is kind
    assert endpoint.text == text
    assert endpoint.same_deployment(parse_endpoint(text))


def test_parsing_an_endpoint_twice_changes_nothing() -> None:
    """``parse_endpoint`` accepts an :class:`Endpoint` and gives back an equal one."""
    endpoint = parse_endpoint("http://127.0.0.1:9081")
    assert parse_endpoint(endpoint) == endpoint
    assert isinstance(endpoint, Endpoint)


def test_a_hand_made_endpoint_is_judged_by_its_text() -> None:
    """Its identity comes from its text, never from a key made by hand; a bad text is refused."""
    made = Endpoint("http://h:1", EndpointKind.HTTP, "my-key")
    assert parse_endpoint(made) == parse_endpoint("http://h:1")
    with pytest.raises(InvalidEndpoint):
        parse_endpoint(Endpoint("not a uri", EndpointKind.HTTP, "k2"))


RELATIVE = [
    "127.0.0.1:9102",  # transcript 3.4
    "/foo",  # transcript 3.4b
    "localhost:9102",
    "localhost/foo",
    "h:1",
    "//127.0.0.1:9102/",
    "http://",
    "greeter",
]


@pytest.mark.parametrize("text", RELATIVE)
def test_a_relative_uri_is_refused_with_the_servers_message(text: str) -> None:
    """The server (400): "The request field 'uri' is invalid. Reason: The provided uri
    127.0.0.1:9102 is not absolute, only absolute URIs can be used." """
    with pytest.raises(InvalidEndpoint) as info:
        parse_endpoint(text)
    assert str(info.value) == (
        f"The provided uri {text} is not absolute, only absolute URIs can be used."
    )
    assert info.value.endpoint == text
    assert isinstance(info.value, ValueError)


NOT_ENDPOINTS: list[tuple[object, str]] = [
    (LAMBDA, "has no function version"),
    ("arn:aws:lambda:eu-central-1:123456789012:function", "is not an AWS Lambda function ARN"),
    ("arn:aws:s3:::my-bucket", "is not an AWS Lambda function ARN"),
    ("arn:aws:lambda:eu-central-1:1234:function:f:1", "is not an AWS Lambda function ARN"),
    ("ftp://127.0.0.1:9081/", "only http and https"),
    ("ws://127.0.0.1:9081/", "only http and https"),
    ("http://127.0.0.1:99999/", "is not a valid URI"),
    ("http://127.0.0.1:port/", "is not a valid URI"),
    ("http://:9081/", "has no host"),
    ("", "is empty or has spaces"),
    (" http://127.0.0.1:9081", "is empty or has spaces"),
    ("http://127.0.0.1:9081\n", "is empty or has spaces"),
    (None, "an endpoint is a URI or Lambda ARN string"),
    (b"http://127.0.0.1:9081", "an endpoint is a URI or Lambda ARN string"),
    (9081, "an endpoint is a URI or Lambda ARN string"),
]


@pytest.mark.parametrize(("value", "reason"), NOT_ENDPOINTS)
def test_anything_else_is_refused_quoting_the_input(value: object, reason: str) -> None:
    """Anything that is neither an absolute http(s) URI nor a versioned Lambda ARN raises
    :class:`InvalidEndpoint` (a ``ValueError``) whose message quotes the input."""
    with pytest.raises(InvalidEndpoint) as info:
        parse_endpoint(value)
    assert repr(value) in str(info.value)
    assert reason in str(info.value)
    assert info.value.endpoint == value


def test_a_lambda_arn_without_a_version_says_how_to_add_one() -> None:
    """An ARN must include the function version; the error shows where it goes."""
    with pytest.raises(InvalidEndpoint, match=r":<version>'"):
        parse_endpoint(LAMBDA)


# --- when two endpoints are one deployment --------------------------------------------------

SAME_DEPLOYMENT = [
    # observed: 2.1 registered http://127.0.0.1:9081; later requests for ".../" found it (200)
    ("http://127.0.0.1:9081", "http://127.0.0.1:9081/"),
    # observed: 6.0a "http://127.0.0.1:9084/" -> 200, dp_10soVxbeF6t0UdxIlA9vjXj
    ("http://127.0.0.1:9084", "http://127.0.0.1:9084/"),
    # the example of (docs/rules.md, "Deployments and their identity")
    ("http://h:9081", "https://H:9081/?x=1"),
    ("http://h:9081/", "https://H:9081/?x=1"),
    ("http://greeter.example.com:9081/api", "HTTPS://GREETER.example.COM:9081/api"),
    ("http://h:9081/api", "http://h:9081/api?version=2"),
    ("http://h:9081/api", "http://h:9081/api#fragment"),
    ("http://[::1]:9081", "https://[::1]:9081/"),
    (LAMBDA + ":1", LAMBDA + ":1"),
]

DIFFERENT_DEPLOYMENTS = [
    # observed: 4.y5 "http://127.0.0.1:9090/ysame/" -> 201, a new deployment
    ("http://127.0.0.1:9090/ysame", "http://127.0.0.1:9090/ysame/"),
    # nothing is resolved (docs/rules.md, "Deployments and their identity")
    ("http://localhost:9081", "http://127.0.0.1:9081"),
    ("http://h:9081", "http://h:9082"),
    ("http://h:9081/a", "http://h:9081/b"),
    ("http://h:9081/api", "http://h:9081/API"),  # only the host is case-insensitive
    ("http://h:9081/", "http://h:9081/api"),
    ("http://h:9081/api", "http://h:9081/api/v1"),
    (LAMBDA + ":1", LAMBDA + ":2"),
    (LAMBDA + ":1", LAMBDA + ":$LATEST"),
    (LAMBDA + ":1", LAMBDA.replace("eu-central-1", "eu-west-1") + ":1"),
    (LAMBDA + ":1", LAMBDA.replace("greeter", "Greeter") + ":1"),
]


@pytest.mark.parametrize(("first", "second"), SAME_DEPLOYMENT)
def test_spellings_of_one_endpoint_are_the_same_deployment(first: str, second: str) -> None:
    """(docs/rules.md, "Deployments and their identity"): two HTTP endpoints are one deployment
    when their authority (the host in any case, the port) and path are equal; scheme and query
    do not count, and no path is ``/`` (the server ignored the slash only on an empty path). A
    Lambda ARN matches the identical string."""
    a, b = parse_endpoint(first), parse_endpoint(second)
    assert a.same_deployment(b)
    assert b.same_deployment(a)
    assert a.key == b.key


@pytest.mark.parametrize(("first", "second"), DIFFERENT_DEPLOYMENTS)
def test_different_endpoints_are_different_deployments(first: str, second: str) -> None:
    """``localhost`` and ``127.0.0.1`` are two deployments; so are two paths, two ports, two
    ARNs; and ``/ysame`` vs ``/ysame/`` (observed on the server)."""
    a, b = parse_endpoint(first), parse_endpoint(second)
    assert not a.same_deployment(b)
    assert not b.same_deployment(a)


@pytest.mark.parametrize(("first", "second"), SAME_DEPLOYMENT)
def test_registering_another_spelling_of_a_registered_endpoint_changes_nothing(
    first: str, second: str
) -> None:
    """Without ``force`` an already registered endpoint, in any of its spellings, gives back the
    stored deployment (200) and changes nothing."""
    registry = new_registry()
    created = registry.register(first, manifest("Greeter"))
    before = registry.snapshot()
    again = registry.register(second, manifest("Greeter", "Other"))
    assert again.outcome is Outcome.UNCHANGED
    assert again.deployment == created.deployment
    assert registry.snapshot() == before
    assert registry.find_deployment(second) == created.deployment


@pytest.mark.parametrize(("first", "second"), DIFFERENT_DEPLOYMENTS)
def test_registering_a_different_endpoint_creates_a_deployment(first: str, second: str) -> None:
    """A new endpoint creates a deployment (201) and bumps each of its services."""
    registry = new_registry()
    created = registry.register(first, manifest("Greeter"))
    other = registry.register(second, manifest("Greeter"))
    assert other.outcome is Outcome.CREATED
    assert other.deployment.id != created.deployment.id
    assert registry.service("Greeter").revision == 2
    assert registry.find_deployment(first) == registry.deployment(created.deployment.id)
    assert registry.find_deployment(second) == other.deployment


def test_the_trailing_slash_story_of_the_ysame_endpoint() -> None:
    """Transcript 4.y1-4.y6 on restate-server 1.7.12:

    * y1 ``http://127.0.0.1:9090/ysame`` (YSvc: a) -> 201, revision 1
    * y2 same URI, force=false, endpoint now serves a and b -> 200, still only a (no discovery)
    * y3 same URI, force=true -> 200, same id, revision 2 with a and b
    * y4 same URI, force=false -> 200, revision 2
    * y5 ``http://127.0.0.1:9090/ysame/`` -> 201, a new deployment, revision 3
    * y6 ``http://127.0.0.1:9090/ysame`` -> 200, the deployment of y1 (revision 2)
    """
    registry = new_registry()
    uri = "http://127.0.0.1:9090/ysame"
    y1 = registry.register(uri, manifest("YSvc", handlers=("a",)))
    assert (y1.outcome, y1.deployment.services["YSvc"].revision) == (Outcome.CREATED, 1)
    y2 = registry.register(uri, manifest("YSvc", handlers=("a", "b")))
    assert y2.outcome is Outcome.UNCHANGED
    assert set(y2.deployment.services["YSvc"].handlers) == {"a"}
    y3 = registry.register(uri, manifest("YSvc", handlers=("a", "b")), force=True)
    assert y3.outcome is Outcome.OVERWRITTEN
    assert y3.deployment.id == y1.deployment.id
    assert y3.deployment.services["YSvc"].revision == 2
    assert set(y3.deployment.services["YSvc"].handlers) == {"a", "b"}
    y4 = registry.register(uri, manifest("YSvc", handlers=("a", "b")))
    assert (y4.outcome, y4.deployment) == (Outcome.UNCHANGED, y3.deployment)
    y5 = registry.register(uri + "/", manifest("YSvc", handlers=("a", "b")))
    assert y5.outcome is Outcome.CREATED
    assert y5.deployment.id != y1.deployment.id
    assert y5.deployment.services["YSvc"].revision == 3
    y6 = registry.register(uri, manifest("YSvc", handlers=("a", "b")))
    assert (y6.outcome, y6.deployment.id) == (Outcome.UNCHANGED, y1.deployment.id)
    assert y6.deployment.services["YSvc"].revision == 2
    assert len(registry.deployments()) == 2


def test_an_endpoint_already_registered_is_not_rediscovered_even_if_its_manifest_is_invalid() -> (
    None
):
    """Registering a registered endpoint without ``force`` does no discovery: the fake endpoint
    logged one request for y1..y2 while its manifest changed, so not even a broken answer is
    looked at."""
    registry = new_registry()
    created = registry.register("http://127.0.0.1:9081", manifest("Greeter"))
    again = registry.register("http://127.0.0.1:9081/", "{this is not json")
    assert (again.outcome, again.deployment) == (Outcome.UNCHANGED, created.deployment)


@pytest.mark.parametrize("text", [*RELATIVE, LAMBDA, "ftp://h:1/", ""])
def test_registering_a_bad_endpoint_raises_and_changes_nothing(text: str) -> None:
    """A refused endpoint raises :class:`InvalidEndpoint` and the registry is exactly as before;
    not even an id is used up."""
    registry = new_registry()
    registry.register("http://127.0.0.1:9081", manifest("Greeter"))
    before = registry.snapshot()
    with pytest.raises(InvalidEndpoint):
        registry.register(text, manifest("Greeter"))
    assert registry.snapshot() == before
    other = new_registry()
    other.register("http://127.0.0.1:9081", manifest("Greeter"))
    next_ids = (
        registry.register("http://127.0.0.1:9082", manifest("Greeter")).deployment.id,
        other.register("http://127.0.0.1:9082", manifest("Greeter")).deployment.id,
    )
    assert next_ids[0] == next_ids[1]


def test_a_deployment_id_is_random_never_derived_from_the_endpoint() -> None:
    """(docs/rules.md, "Deployments and their identity"): ids are random, never derived from
    the endpoint: the same endpoint in two registries gets two ids. (Observed:
    http://127.0.0.1:9087/ was dp_14ZC3m5jUG7qS28e8ndrcjv, and dp_11VMWSnfgY1NFK2l5pjdOEx once
    removed and registered again.)"""
    first = Registry().register("http://127.0.0.1:9087", manifest("Caller")).deployment.id
    second = Registry().register("http://127.0.0.1:9087", manifest("Caller")).deployment.id
    assert first != second


# --- properties -----------------------------------------------------------------------------

hosts = st.from_regex(r"\A[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){0,2}\Z")
ports = st.integers(min_value=1, max_value=65535)
paths = st.from_regex(r"\A(/[A-Za-z0-9._~-]{1,8}){0,3}\Z")
queries = st.from_regex(r"\A[a-z0-9=&]{0,10}\Z")


@given(hosts, ports, paths, st.data())
def test_host_case_scheme_and_query_never_change_the_deployment(
    host: str, port: int, path: str, data: st.DataObject
) -> None:
    """Any spelling of the host's case, http or https, with or without a query, names the same
    deployment; so does adding ``/`` to an empty path."""
    plain = parse_endpoint(f"http://{host}:{port}{path}")
    mixed_host = "".join(data.draw(st.sampled_from([c.lower(), c.upper()])) for c in host)
    scheme = data.draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    query = data.draw(queries)
    suffix = f"?{query}" if query else ""
    other = parse_endpoint(f"{scheme}://{mixed_host}:{port}{path or '/'}{suffix}")
    assert plain.same_deployment(other)


@given(hosts, ports, paths, paths)
def test_two_different_paths_are_two_deployments(
    host: str, port: int, path: str, other_path: str
) -> None:
    """The path is compared exactly (case and trailing slash included), except that an empty
    path is ``/``."""
    a = parse_endpoint(f"http://{host}:{port}{path}")
    b = parse_endpoint(f"http://{host}:{port}{other_path}")
    assert a.same_deployment(b) == ((path or "/") == (other_path or "/"))


@given(st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z"), st.from_regex(r"\A[1-9][0-9]{0,3}\Z"))
def test_a_lambda_arn_is_the_same_deployment_only_as_the_identical_string(
    function: str, version: str
) -> None:
    """(docs/rules.md, "Deployments and their identity"): a Lambda ARN is one deployment only as
    the identical string; the version is required."""
    arn = f"arn:aws:lambda:eu-central-1:123456789012:function:{function}"
    endpoint = parse_endpoint(f"{arn}:{version}")
    assert endpoint.kind is EndpointKind.LAMBDA
    assert endpoint.same_deployment(parse_endpoint(f"{arn}:{version}"))
    assert not endpoint.same_deployment(parse_endpoint(f"{arn}:{version}0"))
    with pytest.raises(InvalidEndpoint):
        parse_endpoint(arn)


def test_every_endpoint_error_is_a_versioning_error() -> None:
    """One root: :class:`InvalidEndpoint` is a :class:`VersioningError` and a ``ValueError``."""
    assert issubclass(InvalidEndpoint, VersioningError)
    assert issubclass(InvalidEndpoint, ValueError)


# --- what discovery could not call is refused -----------------------------------------------

UNCALLABLE: list[tuple[str, str]] = [
    ("http://127.0.0.1:9081/a b", "is empty or has spaces"),
    ("http://127.0.0.1:9081/a\tb", "is empty or has spaces"),
    ("http://127.0.0.1:9081/\x00", "is empty or has spaces"),
    ("http://127.0.\x7f0.1:9081/", "is empty or has spaces"),
    ("http://gree ter:9081/", "is empty or has spaces"),
    ("http://greeter\u3000:9081/", "is empty or has spaces"),
    ("http://greeter\u200b.example/", "is empty or has spaces"),
    ("http://127.0.0.1:9081/\u2028", "is empty or has spaces"),
    (
        "http://\uff47\uff52\uff45\uff45\uff54\uff45\uff52.example/",
        "is not a valid internationalized domain name",
    ),
    ("http://bücher_laden.example/", "is not a valid internationalized domain name"),
    ("http://ü" + "x" * 63 + ".example/", "is not a valid internationalized domain name"),
    ("http://" + "a" * 64 + ".example/", "has a label that is 64 characters long"),
    ("http://greeter..example/", "has a label that is empty"),
    ("http://.greeter/", "has a label that is empty"),
    ('http://gre"eter/', "has the character '\"'"),
    ("http://gre{eter/", "has the character '{'"),
    ("http://gre%eter/", "has the character '%'"),
    ("http://999.0.0.1:9081/", "is not a valid IPv4 address"),
    ("http://127.000.0.1:9081/", "is not a valid IPv4 address"),
    ("http://[::1::2]:9081/", "is not a valid URI"),
    ("http://127.0.0.1:\uff19\uff10\uff18\uff11/", "is not a valid URI"),
    ("http://127.0.0.1:-1/", "is not a valid URI"),
    ("http://127.0.0.1:" + "9" * 6 + "/", "is not a valid URI"),
    ("http://h/" + "a" * 65536, "characters long: discovery sends at most"),
]


@pytest.mark.parametrize(("text", "reason"), UNCALLABLE)
def test_an_endpoint_discovery_could_not_call_is_refused_when_parsed(
    text: str, reason: str
) -> None:
    """Whitespace or a control character anywhere, a host that is no valid IPv4, IPv6 or IDNA
    2008 name (full-width letters, a label over 63 characters, an empty label), a bad port: the
    endpoint is refused with :class:`InvalidEndpoint` quoting it and saying why, instead of
    making discovery fail later with an error of httpx or of the codecs."""
    with pytest.raises(InvalidEndpoint) as info:
        parse_endpoint(text)
    assert reason in str(info.value)
    assert repr(text[:100]) in str(info.value) or repr(text[:100] + "...") in str(info.value)


CALLABLE = [
    "http://bücher.example:9080/",
    "http://xn--bcher-kva.example:9080/",
    "http://greeter.example./",
    "http://my_service:9080/",
    "http://" + "a" * 63 + ".example/",
    "http://[fe80::1%25eth0]:9080/",
    "http://127.0.0.1:9081/caf%C3%A9/é?q=ü",
    "http://***@127.0.0.1:9081/",
]


@pytest.mark.parametrize("text", CALLABLE)
def test_an_endpoint_discovery_can_call_is_accepted(text: str) -> None:
    """Internationalized hosts that IDNA 2008 encodes, a trailing dot, an underscore (container
    names), 63-character labels, IPv6 zones, and non-ASCII or percent-encoded paths are
    endpoints; discovery's URL library takes each of them."""
    httpx = pytest.importorskip("httpx")
    endpoint = parse_endpoint(text)
    assert endpoint.kind is EndpointKind.HTTP
    httpx.Request("GET", endpoint.text.rstrip("/") + "/discover")


# --- credentials are never kept ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("http://user:secret@127.0.0.1:9081/", "http://***@127.0.0.1:9081/"),
        ("https://user@greeter.example/api", "https://***@greeter.example/api"),
        ("http://a:b@c@127.0.0.1:9081", "http://***@127.0.0.1:9081"),
        ("http://127.0.0.1:9081/a@b", "http://127.0.0.1:9081/a@b"),
    ],
)
def test_an_endpoint_keeps_its_credentials_redacted(text: str, kept: str) -> None:
    """A parsed endpoint's text has ``***@`` where the URL had ``user:password@``: that is
    what a registry keeps, snapshots, journals and shows. An ``@`` in the path is no
    credential."""
    assert parse_endpoint(text).text == kept
    assert parse_endpoint(kept).text == kept


def test_spellings_that_differ_only_in_credentials_are_one_deployment() -> None:
    """Identity is computed on the redacted endpoint, so ``user:a@`` and ``other:b@`` at one
    host and path are one deployment (going further than the server, which keeps and compares
    the credentials: see ``tests/test_endpoint_credentials.py``); without credentials it is
    another."""
    first = parse_endpoint("http://user:a@127.0.0.1:9081/")
    assert first.same_deployment(parse_endpoint("http://other:b@127.0.0.1:9081"))
    assert not first.same_deployment(parse_endpoint("http://127.0.0.1:9081/"))


@pytest.mark.parametrize(
    "text",
    [
        "http://user:secret@127.0.0.1:port/",
        "ftp://user:secret@127.0.0.1/",
        "user:secret@127.0.0.1:9081",
        "//user:secret@127.0.0.1:9081/",
        "http://user:secret@\uff47\uff52\uff45\uff45\uff54\uff45\uff52/",
        "http://user:secret@127.0.0.1:9081/ x",
        "http://user:secret@/",
    ],
)
def test_a_refused_endpoint_never_quotes_its_secret(text: str) -> None:
    """The error of an endpoint with credentials quotes it with the secret redacted, in its
    message and in its ``endpoint`` attribute."""
    with pytest.raises(InvalidEndpoint) as info:
        parse_endpoint(text)
    assert "secret" not in str(info.value)
    assert "secret" not in repr(info.value.endpoint)
    assert "***@" in str(info.value)


# --- property: discovery takes whatever is accepted -----------------------------------------

_PIECES = [
    "http://",
    "https://",
    "HTTP://",
    "user:secret@",
    "@",
    ":",
    ":9080",
    ":0",
    ":65536",
    "/",
    "?",
    "#",
    "%",
    "%41",
    "[",
    "]",
    "[::1]",
    "127.0.0.1",
    "999.1.1.1",
    "1.2.3",
    ".",
    "..",
    "bücher",
    "\uff47\uff52\uff45\uff45\uff54\uff45\uff52",
    "\u3000",
    "\u200b",
    "\x00",
    "\t",
    " ",
    "a" * 63,
    "a" * 64,
    "xn--",
    "_",
    "-",
    "greeter",
    "example",
    "com",
    "é",
    "\\",
    '"',
    "~",
    "!",
    "*",
]
_VALID = st.builds(
    "{}://{}{}{}".format,
    st.sampled_from(["http", "https"]),
    st.sampled_from(["", "user:secret@", "u@"]),
    st.one_of(hosts, st.sampled_from(["127.0.0.1", "[::1]", "bücher.example"])),
    st.builds("{}{}".format, st.sampled_from(["", ":9080", ":1"]), paths),
)


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    text = draw(_VALID)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 2))
        insert = draw(st.one_of(st.sampled_from(_PIECES), st.text(max_size=3)))
        text = text[:at] + insert + text[at + cut :]
    return text


ENDPOINT_INPUTS = st.one_of(
    _mutated(), st.lists(st.sampled_from(_PIECES), max_size=8).map("".join), st.text()
)


def check_discovery_takes(text: str) -> bool:
    """Whether ``parse_endpoint`` accepts ``text`` (in at most a second); if it does, httpx
    takes it and the discovery request, for the endpoint as given and as kept, and the host is
    one the socket layer encodes (Python's ``idna`` codec, as ``getaddrinfo`` does)."""
    import time

    httpx = pytest.importorskip("httpx")
    started = time.monotonic()
    try:
        endpoint = parse_endpoint(text)
    except InvalidEndpoint:
        return False
    finally:
        assert time.monotonic() - started < 1.0
    if endpoint.kind is EndpointKind.LAMBDA:
        return True
    for url in (text, endpoint.text):
        httpx.URL(url)
        request = httpx.Request("GET", url.rstrip("/") + "/discover")
        request.url.raw_host.decode("ascii").encode("idna")
    return True


@given(ENDPOINT_INPUTS)
def test_whatever_parse_endpoint_accepts_discovery_can_request(text: str) -> None:
    """Generated and mutated endpoints (credentials, IDNA and full-width hosts, long and empty
    labels, control characters, odd ports): every one that is accepted is one that httpx
    parses and builds the discovery request for, and whose host the socket layer takes."""
    check_discovery_takes(text)
