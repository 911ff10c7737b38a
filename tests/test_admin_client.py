"""What :class:`AdminClient` sends, and what it does not: a write the model refuses sends
nothing; a write the server refuses is one :class:`AdminApiError` (status, Restate code) and is
not sent again; a removal is confirmed by reading the deployment back. Against recorded admin
answers of restate-server 1.7.12 (``tests/data/restate-1.7.12-admin``)."""

from __future__ import annotations

import json

import pytest

from restate_versioning import InvalidEndpoint, RemovalBlocked, ServiceNotFound
from restate_versioning import admin as admin_module
from restate_versioning.admin import AdminApiError

from .test_admin import REPORT_V1, REPORT_V1_ID, REPORT_V2_ID, report_admin

WRITES = ("POST", "PATCH", "DELETE")


def _writes(paths: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(m, p) for m, p in paths if m in WRITES and p != "/query"]


def test_an_unsafe_removal_sends_no_delete() -> None:
    admin = report_admin()
    with pytest.raises(RemovalBlocked):
        admin.client().remove(REPORT_V2_ID)  # the latest of its services
    assert _writes(admin.paths()) == []


def test_a_delete_the_server_refuses_is_one_error_and_is_not_sent_again() -> None:
    admin = report_admin()
    path = f"/deployments/{REPORT_V1_ID}"
    admin.answers[("DELETE", path)] = (500, '{"message":"boom","restate_code":"RT0001"}')
    with pytest.raises(AdminApiError) as caught:
        admin.client().remove(REPORT_V1_ID)
    assert (caught.value.status, caught.value.restate_code) == (500, "RT0001")
    assert _writes(admin.paths()) == [("DELETE", path)]


def test_a_removal_the_cluster_still_lists_afterwards_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(admin_module, "_REMOVAL_SETTLES", 0.3)  # instead of a few seconds
    admin = report_admin()
    admin.answers[("DELETE", f"/deployments/{REPORT_V1_ID}")] = (202, "")
    with pytest.raises(AdminApiError, match="still listed"):
        admin.client().remove(REPORT_V1_ID)


def test_a_registration_whose_dry_run_the_server_refuses_is_not_sent() -> None:
    admin = report_admin()
    admin.answers[("POST", "/deployments")] = (
        400,
        '{"message":"[META0006] bad change","restate_code":"META0006"}',
    )
    with pytest.raises(AdminApiError) as caught:
        admin.client().register("http://127.0.0.1:9099")
    assert caught.value.restate_code == "META0006"
    assert _writes(admin.paths()) == [("POST", "/deployments")]  # the dry run only
    (dry_run,) = [r for r in admin.requests if r.method == "POST" and r.url.path != "/query"]
    assert b'"dry_run":true' in dry_run.content.replace(b" ", b"")


def test_set_public_of_a_service_the_cluster_lacks_sends_nothing() -> None:
    admin = report_admin()
    with pytest.raises(ServiceNotFound):
        admin.client().set_public("Nope", False)
    assert _writes(admin.paths()) == []


def test_a_prune_dry_run_sends_nothing() -> None:
    admin = report_admin()
    pruned = admin.client().prune(dry_run=True)
    assert pruned.dry_run
    assert [r.deployment.id for r in pruned.removed] == [REPORT_V1_ID]
    assert _writes(admin.paths()) == []


def test_a_lambda_arn_and_additional_headers_pass_through_to_the_dry_run_and_the_registration() -> (
    None
):
    admin = report_admin()
    arn = "arn:aws:lambda:eu-central-1:123456789012:function:greeter:7"
    admin.answers[("POST", "/deployments")] = (
        200,
        REPORT_V1,
    )  # a deployment as the server shows it
    admin.client().register(arn, additional_headers={"x-tenant": "blue"})
    sent = [
        json.loads(r.content)
        for r in admin.requests
        if (r.method, r.url.path) == ("POST", "/deployments")
    ]
    assert [body.get("dry_run", False) for body in sent] == [True, False]
    for body in sent:
        assert body["arn"] == arn
        assert "uri" not in body
        assert body["additional_headers"] == {"x-tenant": "blue"}


@pytest.mark.parametrize("bad", ["ftp://x", "not a url", 7])
def test_a_registration_of_something_that_is_not_an_endpoint_sends_nothing(bad: object) -> None:
    admin = report_admin()
    with pytest.raises(InvalidEndpoint, match=repr(bad) if isinstance(bad, int) else "'"):
        admin.client().register(bad)  # type: ignore[arg-type]
    assert admin.paths() == []
