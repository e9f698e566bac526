"""The web server with a real model: page, /info, /predict answers, every bad request, concurrency."""

import base64
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.parse
import urllib.request

import numpy as np
import pytest
from corrupt_images import corrupt_images
from fixtures_model import post, product_photo
from PIL import Image

from harness import datasets
from harness.serving import predict
from harness.serving.preprocess import preprocess
from harness.record import TrialRecord
from test_hostile_server import assert_still_serving

CORRUPT = corrupt_images()


@pytest.fixture(scope="module")
def expected(trained_trial, mnist):
    """The model's own probabilities for the first 200 test digits."""
    model, _ = predict.load_trial_model(trained_trial)
    return predict.Predictor(model).probabilities(mnist.x_test[:200])


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.headers, r.read()


def request(url, method, path, body=b"", headers=None):
    """(status, JSON answer) for any method, with exactly the headers given."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    return r.status, json.loads(r.read())


def raw(url, data: bytes):
    """(status, JSON answer) for bytes sent as they are."""
    u = urllib.parse.urlsplit(url)
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        s.sendall(data)
        answer = b"".join(iter(lambda: s.recv(65536), b""))
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def data_url(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_page_and_info(server_url, trained_trial):
    status, headers, body = get(server_url + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'<canvas id="pad"' in body and b"/static/app.js" in body and b"http" not in body.split(b"<body>")[1]
    assert "default-src 'self'" in headers["Content-Security-Policy"]  # nothing from a CDN can load
    for name, kind in [("app.js", "text/javascript"), ("style.css", "text/css")]:
        status, headers, _ = get(f"{server_url}/static/{name}")
        assert status == 200 and headers["Content-Type"].startswith(kind)
    status, _, body = get(server_url + "/info")
    info, record = json.loads(body), TrialRecord.load(trained_trial)
    assert info == {"trial_id": "t0", "experiment": "small", "status": "ok", "test_accuracy": record.test_accuracy,
                    "params": record.params, "family": "mlp", "path": str(trained_trial.resolve()),
                    "dataset": {"name": "mnist", "title": "MNIST", "classes": [str(d) for d in range(10)],
                                "drawn": True}}


def test_pixels_are_answered_exactly_like_the_model_on_mnist(server_url, mnist, expected):
    answers = [post(server_url + "/predict", {"pixels": x.tolist()}) for x in mnist.x_test[:200]]
    assert all(status == 200 for status, _ in answers)
    assert [a["digit"] for _, a in answers] == list(expected.argmax(1))
    assert np.allclose([a["probabilities"] for _, a in answers], expected, atol=1e-6)
    top3 = answers[0][1]["top3"]
    assert [t["digit"] for t in top3] == list(np.argsort(-expected[0])[:3]) and "input" not in answers[0][1]


def test_images_are_preprocessed_like_predict_does(server_url, mnist):
    image = Image.fromarray(255 - mnist.x_test[0]).resize((200, 200))  # black on white, large: needs preprocessing
    status, answer = post(server_url + "/predict", {"image": data_url(image)})
    assert status == 200 and answer["input"] == preprocess(image).astype(int).tolist()
    assert answer["class"] == str(answer["digit"]) == str(answer["label"])
    status, again = post(server_url + "/predict", {"pixels": answer["input"]})
    assert status == 200 and again["probabilities"] == answer["probabilities"]


def test_a_fashion_model_says_its_dataset_and_answers_in_class_names(fashion_server_url, fashion):
    _, _, body = get(fashion_server_url + "/info")
    assert json.loads(body)["dataset"] == {"name": "fashion-mnist", "title": "Fashion-MNIST",
                                           "classes": list(datasets.FASHION_MNIST.classes), "drawn": False}
    photo = product_photo(fashion.x_test[0])  # an ankle boot, dark on white
    status, answer = post(fashion_server_url + "/predict", {"image": data_url(photo)})
    assert status == 200 and answer["input"] == preprocess(photo, datasets.FASHION_MNIST).astype(int).tolist()
    assert answer["class"] == datasets.FASHION_MNIST.classes[answer["label"]]
    assert [t["class"] for t in answer["top3"]] == [datasets.FASHION_MNIST.classes[t["label"]] for t in answer["top3"]]
    status, answer = post(fashion_server_url + "/predict", {"image": data_url(Image.new("L", (64, 64), 255))})
    assert status == 422 and "no object found" in answer["error"]


def png_b64(image):
    return data_url(image).split(",", 1)[1]


BAD = [  # (body, status, words of the error)
    (b"{not json", 400, "not valid JSON"),
    (b"\xff\xfe", 400, "not valid JSON"),
    (b"[1, 2]", 400, 'either "pixels" or "image"'),
    (b'{"pixels": [], "image": ""}', 400, 'either "pixels" or "image"'),
    (b'{"digits": []}', 400, 'either "pixels" or "image"'),
    (json.dumps({"pixels": [[0] * 28] * 27}).encode(), 400, "28 rows of 28 numbers"),
    (json.dumps({"pixels": [[0] * 28] * 27 + [[0] * 29]}).encode(), 400, "28 rows of 28 numbers"),
    (json.dumps({"pixels": [[0] * 28 for _ in range(784)]}).encode(), 400, "28 rows of 28 numbers"),
    (json.dumps({"pixels": np.zeros((28, 28, 1)).tolist()}).encode(), 400, "only numbers"),
    (json.dumps({"pixels": [[0] * 27 + ["1"]] * 28}).encode(), 400, "only numbers"),
    (json.dumps({"pixels": [[0] * 27 + [True]] * 28}).encode(), 400, "only numbers"),
    (json.dumps({"pixels": [[0] * 27 + [256]] * 28}).encode(), 400, "between 0 and 255"),
    (json.dumps({"pixels": [[0] * 27 + [-0.5]] * 28}).encode(), 400, "between 0 and 255"),
    (b'{"pixels": [' + b",".join([b"[" + b",".join([b"NaN"] * 28) + b"]"] * 28) + b"]}", 400, "NaN is not JSON"),
    (b'{"image": 7}', 400, "must be a data URL"),
    (b'{"image": "http://example.com/7.png"}', 400, "must be a data URL"),
    (b'{"image": "data:image/png;base64,***"}', 400, "not valid base64"),
    (json.dumps({"image": "data:image/png;base64," + base64.b64encode(b"hello").decode()}).encode(), 400,
     "not an image Pillow can read"),
    (json.dumps({"image": "data:image/png;base64," + png_b64(Image.new("L", (3000, 3000)))}).encode(), 400,
     "at most 4194304 pixels"),
    (json.dumps({"image": "data:image/png;base64," + png_b64(Image.new("L", (280, 280)))}).encode(), 422,
     "the image is blank"),
    (b"x" * (2 << 20), 413, "body too large"),
]


@pytest.mark.parametrize("body,status,words", BAD, ids=[f"{s}-{w}" for _, s, w in BAD])
def test_bad_bodies_get_a_json_error(server_url, body, status, words):
    got, answer = post(server_url + "/predict", body, raw=True)
    assert (got, list(answer)) == (status, ["error"]) and words in answer["error"]


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_a_corrupt_image_is_the_clients_fault(server_url, name):
    body = {"image": "data:image/png;base64," + base64.b64encode(CORRUPT[name]).decode()}
    got, answer = post(server_url + "/predict", body)
    assert got == 400 and answer["error"].startswith('"image": '), answer
    assert_still_serving(server_url)


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/nope", 404), ("GET", "/static/../serve.py", 404), ("POST", "/nope", 404),
    ("GET", "/predict", 405), ("POST", "/info", 405), ("POST", "/", 405), ("PUT", "/predict", 405),
    ("DELETE", "/", 405),
])
def test_bad_routes_get_a_json_error(server_url, method, path, status):
    got, answer = request(server_url, method, path, b"{}" if method != "GET" else None)
    assert got == status and isinstance(answer["error"], str)


def test_malformed_http_gets_a_json_error(server_url):
    status, answer = raw(server_url, b"POST /predict HTTP/1.0\r\n\r\n")
    assert status == 411 and "Content-Length" in answer["error"]
    status, answer = raw(server_url, b"POST /predict HTTP/1.0\r\nContent-Length: 99999999\r\n\r\n")
    assert status == 413
    status, answer = raw(server_url, b"GET /" + b"a" * 70000 + b" HTTP/1.0\r\n\r\n")
    assert status == 414 and answer["error"]
    status, answer = raw(server_url, b"GET / HTTP/1.0\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n")
    assert status == 431 and answer["error"]


def test_concurrent_requests_all_succeed(server_url, mnist, expected):
    results, errors = {}, []

    def client(t):
        try:
            for i in range(t * 10, t * 10 + 10):
                status, answer = post(server_url + "/predict", {"pixels": mnist.x_test[i].tolist()})
                results[i] = (status, answer["digit"])
        except Exception as e:  # reported below, with the thread that failed
            errors.append((t, e))

    threads = [threading.Thread(target=client, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(results) == 80
    assert [results[i] for i in range(80)] == [(200, int(d)) for d in expected[:80].argmax(1)]


def test_serve_command_picks_a_free_port_and_stops_on_ctrl_c(trained_trial):
    command = [sys.executable, "-m", "harness", "serve", "--sweep", str(trained_trial.parent), "--port", "0"]
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}  # SIGABRT dumps every thread's stack: a hang says where
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"serving trial {trained_trial} on http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split(" on ")[1].split()[0]
        assert json.loads(get(url + "info")[2])["trial_id"] == "t0"
    finally:
        proc.send_signal(signal.SIGINT)
        try:  # communicate, not wait: both pipes drained, so a full stderr pipe cannot block the server
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            status = [line for line in open(f"/proc/{proc.pid}/status").read().splitlines() if line.startswith("Sig")]
            proc.send_signal(signal.SIGABRT)
            out, err = proc.communicate(timeout=30)
            raise AssertionError(f"serve did not stop within 60 s of Ctrl-C ({status}); its stacks:\n{err}") from None
    assert proc.returncode == 0, out + err
