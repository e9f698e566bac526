"""Hostile requests to the real server: each gets a 4xx JSON error, and the server goes on answering."""

import json
import socket
import urllib.parse

import pytest
from fixtures_model import post

from harness.serving.server import check_content_type, BadRequest

GOOD = json.dumps({"pixels": [[0] * 28] * 28}).encode()


def send(url: str, body: bytes, headers: dict[str, str], close_early: bool = False) -> tuple[int, dict]:
    """(status, JSON answer) for a POST /predict with exactly these headers, over a raw socket."""
    u = urllib.parse.urlsplit(url)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        s.sendall(f"POST /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{head}\r\n".encode() + body)
        if close_early:
            s.shutdown(socket.SHUT_WR)
        answer = b"".join(iter(lambda: s.recv(65536), b""))
    top, _, payload = answer.partition(b"\r\n\r\n")
    return int(top.split()[1]), json.loads(payload)


def json_post(url, body: bytes, content_type="application/json"):
    return send(url, body, {"Content-Type": content_type, "Content-Length": str(len(body))})


def assert_still_serving(url):
    status, answer = post(url + "/predict", json.loads(GOOD))
    assert status == 200 and 0 <= answer["digit"] <= 9


DEEP = 100_000
HOSTILE = [  # (body, status, words of the error)
    (b"[" * DEEP + b"]" * DEEP, 400, "nested too deeply"),
    (b'{"pixels": ' + b"[" * DEEP + b"]" * DEEP + b"}", 400, "nested too deeply"),
    (b'{"a": ' * DEEP + b"1" + b"}" * DEEP, 400, "nested too deeply"),
    ('{"pixels": "é"}'.encode("utf-16"), 400, "not UTF-8"),
    ('{"pixels": "é"}'.encode("latin-1"), 400, "not UTF-8"),
    (b'{"pixels": [[NaN]]}', 400, "NaN is not JSON"),
    (b'{"pixels": [[Infinity]]}', 400, "Infinity is not JSON"),
    (b'{"pixels": [[-Infinity]]}', 400, "-Infinity is not JSON"),
    (b'{"pixels": [' + b",".join([b"[" + b",".join([b"1e400"] * 28) + b"]"] * 28) + b"]}", 400, "between 0 and 255"),
    (b'{"pixels": [[' + b"9" * 5000 + b"]]}", 400, "not valid JSON"),
    (b'{"pixels": "0" }', 400, "28 rows of 28 numbers"),
    (b'{"pixels": {"0": [0]}}', 400, "28 rows of 28 numbers"),
    (b'{"pixels": null}', 400, "28 rows of 28 numbers"),
    (json.dumps({"pixels": [[None] * 28] * 28}).encode(), 400, "only numbers"),
    (json.dumps({"pixels": [[{"v": 1}] * 28] * 28}).encode(), 400, "only numbers"),
    (b'{"image": ["data:image/png;base64,"]}', 400, "must be a data URL"),
    (b'{"image": null}', 400, "must be a data URL"),
    (b'"pixels"', 400, 'either "pixels" or "image"'),
    (b"null", 400, 'either "pixels" or "image"'),
    (b"", 400, "not valid JSON"),
]


@pytest.mark.parametrize("body,status,words", HOSTILE, ids=[f"{i}-{w}" for i, (_, _, w) in enumerate(HOSTILE)])
def test_hostile_bodies_get_a_json_error_and_the_server_serves_on(server_url, body, status, words):  # noqa: F811
    got, answer = json_post(server_url, body)
    assert (got, list(answer)) == (status, ["error"]) and words in answer["error"], answer
    assert_still_serving(server_url)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonx",
                                          "application/json; charset=latin-1", ""])
def test_a_body_that_is_not_declared_json_is_refused(server_url, content_type):  # noqa: F811
    headers = {"Content-Length": str(len(GOOD))} | ({"Content-Type": content_type} if content_type is not None else {})
    got, answer = send(server_url, GOOD, headers)
    assert got == 415 and ("must be application/json" in answer["error"] or "charset must be utf-8" in answer["error"])
    assert_still_serving(server_url)


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=UTF-8",
                                          "application/json;charset=\"utf-8\"", "application/vnd.api+json"])
def test_json_content_types_are_accepted(server_url, content_type):  # noqa: F811
    got, answer = json_post(server_url, GOOD, content_type)
    assert got == 200 and "digit" in answer


def test_content_type_rules_without_a_server():
    check_content_type("application/json; charset=utf-8")
    with pytest.raises(BadRequest, match="got 'text/json'"):
        check_content_type("text/json")


@pytest.mark.parametrize("length,status,words", [
    ("abc", 411, "Content-Length"), ("-1", 400, "must not be negative"),
    ("99999999999999999999999", 413, "body too large"), ("1.5", 411, "Content-Length"),
])
def test_hostile_content_lengths(server_url, length, status, words):  # noqa: F811
    got, answer = send(server_url, b"", {"Content-Type": "application/json", "Content-Length": length})
    assert got == status and words in answer["error"]
    assert_still_serving(server_url)


def test_a_body_shorter_than_announced_is_refused(server_url):  # noqa: F811
    got, answer = send(server_url, GOOD, {"Content-Type": "application/json", "Content-Length": str(len(GOOD) + 100)},
                       close_early=True)
    assert got == 400 and f"body ended after {len(GOOD)} of the {len(GOOD) + 100} bytes" in answer["error"]
    assert_still_serving(server_url)
