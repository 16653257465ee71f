"""The service endpoints on a real loopback server: what a probe, a scraper and GitHub see."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from helpers import Service, make_service

from controller.core.errors import ControllerError
from controller.service.http import (
    MAX_BODY_BYTES,
    Health,
    ServiceServer,
    parse_listen,
    signature,
)
from controller.service.metrics import Metrics

SECRET = "s3cret-hook-key"


@pytest.fixture
def signed() -> Iterator[Service]:
    s = make_service(SECRET)
    s.server.start()
    yield s
    s.server.stop()


# --- the server itself -----------------------------------------------------------------

def test_port_zero_gives_a_real_port_and_url(service: Service) -> None:
    assert service.server.port > 0
    assert service.server.url == f"http://127.0.0.1:{service.server.port}"


def test_a_port_in_use_is_a_one_line_error(service: Service) -> None:
    other = ServiceServer("127.0.0.1", service.server.port, health=Health(), interval=60, status=dict,
                          metrics=Metrics(), on_git_hook=lambda: None, webhook_secret=None)
    with pytest.raises(ControllerError, match=rf"^--listen 127\.0\.0\.1:{service.server.port}: .+") as info:
        other.start()
    assert "\n" not in str(info.value)


def test_stop_closes_the_port() -> None:
    s = make_service(None)
    s.server.start()
    url = s.server.url
    s.server.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/healthz", timeout=5)


def test_a_stalled_client_does_not_block_probes(service: Service) -> None:
    """A scraper that connects and sends half a request must not starve the kubelet's probes."""
    with socket.create_connection(("127.0.0.1", service.server.port), timeout=10) as stalled:
        stalled.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        assert service.request("/healthz")[0] == 200
        assert service.request("/hooks/git", method="POST", body=b"{}")[0] == 202


def test_unknown_path_is_404_and_wrong_method_405(service: Service) -> None:
    assert service.request("/nope")[0] == 404
    status, headers, _ = service.request("/metrics", method="POST", body=b"")
    assert (status, headers["Allow"]) == (405, "GET, HEAD")
    status, headers, _ = service.request("/hooks/git")
    assert (status, headers["Allow"]) == (405, "POST")
    assert service.request("/status", method="DELETE")[0] == 405
    assert service.hooks == []


def test_requests_are_not_logged_to_stderr(service: Service, capfd: pytest.CaptureFixture) -> None:
    service.request("/healthz")
    service.request("/nope")
    assert capfd.readouterr().err == ""


def test_a_failing_status_callback_is_a_500_and_the_server_keeps_serving() -> None:
    def broken() -> dict:
        raise RuntimeError("boom")

    s = make_service(None)
    s.server.status = broken
    with s.server:
        status, _, body = s.request("/status")
        assert (status, body) == (500, b"internal error\n")
        assert s.request("/healthz")[0] == 200


# --- health and readiness --------------------------------------------------------------

def test_health_before_the_first_pass_is_measured_from_start_up() -> None:
    health = Health(60, started_at=1000)
    assert health.healthy(1000 + 180)
    assert not health.healthy(1000 + 181)


def test_health_follows_the_last_pass_started() -> None:
    health = Health(60, started_at=1000)
    health.pass_started(1100)
    assert health.healthy(1100 + 180)
    assert not health.healthy(1100 + 181)  # the loop is stuck: the kubelet should restart the pod
    health.pass_started(1300)
    assert health.healthy(1301)


def test_the_server_gives_the_health_its_interval() -> None:
    health = Health(started_at=0)
    assert not health.healthy(0)  # no interval, no judgement: not healthy
    ServiceServer("127.0.0.1", 0, health=health, interval=10, status=dict, metrics=Metrics(),
                  on_git_hook=lambda: None, webhook_secret=None)
    assert health.healthy(30) and not health.healthy(31)


def test_healthz_turns_503_when_no_pass_started_for_three_intervals(service: Service) -> None:
    status, headers, body = service.request("/healthz")
    assert (status, body) == (200, b"ok")
    assert headers["Content-Type"].startswith("text/plain")
    service.health.pass_started(-1e9)  # a pass that started long ago and never another
    status, _, body = service.request("/healthz")
    assert status == 503 and b"no reconcile pass" in body
    service.health.pass_started()
    assert service.request("/healthz")[0] == 200


def test_readyz_turns_200_once_a_pass_reached_the_target(service: Service) -> None:
    assert service.request("/readyz")[0] == 503
    service.health.pass_started()
    assert service.request("/readyz")[0] == 503  # started is not reached
    service.health.reached_target()
    assert service.request("/readyz")[:3:2] == (200, b"ready")


def test_head_answers_without_a_body(service: Service) -> None:
    status, headers, body = service.request("/healthz", method="HEAD")
    assert (status, body, headers["Content-Length"]) == (200, b"", "2")


# --- status ----------------------------------------------------------------------------

def test_status_is_the_published_snapshot_as_json(service: Service) -> None:
    status, headers, body = service.request("/status")
    assert (status, headers["Content-Type"], json.loads(body)) == (200, "application/json", {"phase": "starting"})
    live = {"revision": "abc123", "assistants": {"blog-writer": {"version": 3, "drift": False}}}
    service.snapshot.publish(live)
    live["revision"] = "changed after publishing"  # the loop's own objects are not shared
    assert json.loads(service.request("/status?x=1")[2]) == {
        "revision": "abc123", "assistants": {"blog-writer": {"version": 3, "drift": False}}}


# --- the git hook ----------------------------------------------------------------------

def test_git_hook_without_a_secret_calls_the_hook(service: Service) -> None:
    status, _, body = service.request("/hooks/git", method="POST", body=b'{"ref": "refs/heads/main"}',
                                      headers={"Content-Type": "application/json"})
    assert (status, body, service.hooks) == (202, b"accepted\n", [1])


def test_git_hook_with_a_good_signature_calls_the_hook(signed: Service) -> None:
    payload = b'{"ref": "refs/heads/main", "after": "abc"}'
    status, _, _ = signed.request("/hooks/git", method="POST", body=payload,
                                  headers={"X-Hub-Signature-256": signature(SECRET, payload),
                                           "X-GitHub-Event": "push"})
    assert (status, signed.hooks) == (202, [1])


def test_signature_matches_githubs_documented_example() -> None:
    # https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    assert signature("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")


@pytest.mark.parametrize("header", [
    None,
    "",
    "sha256=" + "0" * 64,
    signature("another secret", b'{"ref": "refs/heads/main"}'),
    signature(SECRET, b'{"ref": "refs/heads/evil"}'),  # signed, but for another body
    signature(SECRET, b'{"ref": "refs/heads/main"}').replace("sha256=", "sha1="),
    "sha256=\u00e9t\u00e9",
])
def test_git_hook_with_a_bad_or_missing_signature_is_401_and_not_called(signed: Service, header: str | None) -> None:
    headers = {} if header is None else {"X-Hub-Signature-256": header}
    status, _, _ = signed.request("/hooks/git", method="POST", body=b'{"ref": "refs/heads/main"}', headers=headers)
    assert (status, signed.hooks) == (401, [])


def test_an_oversized_hook_body_is_413_and_not_called(service: Service) -> None:
    status, _, _ = service.request("/hooks/git", method="POST", body=b"x" * (MAX_BODY_BYTES + 1))
    assert (status, service.hooks) == (413, [])
    assert service.request("/healthz")[0] == 200


def test_an_empty_secret_is_refused_rather_than_silently_unsigned() -> None:
    with pytest.raises(ValueError, match="webhook secret is empty"):
        make_service("")


# --- --listen --------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("0.0.0.0:8080", ("0.0.0.0", 8080)),
    ("127.0.0.1:0", ("127.0.0.1", 0)),
    (":9090", ("0.0.0.0", 9090)),
    ("[::1]:8080", ("::1", 8080)),
    ("localhost:80", ("localhost", 80)),
])
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["8080", "host:", "host:http", "host:70000", ""])
def test_parse_listen_refuses_malformed(text: str) -> None:
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        parse_listen(text)
