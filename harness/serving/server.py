"""`python -m harness serve`: a web page answered live by a trained trial: draw a digit (MNIST), or
upload or drop a photo (Fashion-MNIST, whose clothes no one draws with a mouse).

Standard library only (http.server): one page, one model, a handful of routes,
so a web framework would add a dependency and nothing else.

    GET  /          the page (harness/serving/static/)
    GET  /info      the loaded trial: trial_id, experiment, status, test_accuracy, family, params, path,
                    and dataset: {name, title, classes (10 names), drawn} (the page follows it)
    POST /predict   {"pixels": 28 rows of 28 numbers 0-255}  -> fed to the model AS IS: they must
                    already be formatted like the dataset's images (light on black, centred), so
                    answers equal calling the model on the dataset's own arrays;
                    {"image": "data:image/png;base64,..."}   -> decoded by Pillow and run through
                    harness.serving.preprocess for the dataset exactly like `predict` does with files
                    (the page sends this); the answer then also has "input", the 28x28 the model was given.
                    Answer: {"label": k, "class": name, "digit": k, "probabilities": [10 floats],
                    "top3": [{"label", "class", "digit", "probability"}]}; "digit" is the label number
                    under the name it had before Fashion-MNIST, kept for older clients.

Every bad request gets a 4xx with {"error": "..."}: 400 malformed (not UTF-8
JSON, nested too deep, NaN or Infinity, wrong types, an image that does not
decode, e.g. a broken PNG chunk or a bad PPM header), 404 unknown route, 405
wrong method, 411 no Content-Length, 413 body over 1 MB, 415 Content-Type not
JSON, 422 blank image; an unexpected failure is a 500 with {"error": ...}, and
the server goes on serving either way.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from harness.datasets import Dataset
from harness.serving.predict import (Predictor, UnreadableImage, answer, dataset_of, load_trial_model, open_image,
                                     parser, trial_dir_of)
from harness.serving.preprocess import SIZE, BlankImageError, preprocess

STATIC = Path(__file__).parent / "static"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8"}
MAX_BODY = 1 << 20  # bytes; a 280x280 canvas as PNG is ~10 KB, and the page shrinks uploaded photos
MAX_DRAIN = 16 << 20  # read (and drop) oversized bodies up to this, so the client sees the 413, not a reset
MAX_PIXELS = 2048 * 2048  # decoded image size; PNG compresses blank areas too well to trust the byte count


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _pixels(value) -> np.ndarray:
    rows = isinstance(value, list) and len(value) == SIZE
    if not (rows and all(isinstance(r, list) and len(r) == SIZE for r in value)):
        raise BadRequest(400, f'"pixels" must be {SIZE} rows of {SIZE} numbers (light on black, formatted like '
                              "the dataset's images)")
    if not all(type(v) in (int, float) for row in value for v in row):
        raise BadRequest(400, '"pixels" must contain only numbers')
    if not all(0 <= v <= 255 for row in value for v in row):  # also false for NaN
        raise BadRequest(400, '"pixels" values must be between 0 and 255')
    return np.array(value, dtype=np.float32)


def _image(value, dataset: Dataset) -> np.ndarray:
    if not (isinstance(value, str) and value.startswith("data:image/") and ";base64," in value):
        raise BadRequest(400, '"image" must be a data URL: "data:image/png;base64,..."')
    try:
        data = base64.b64decode(value.split(";base64,", 1)[1], validate=True)
    except binascii.Error:
        raise BadRequest(400, '"image" is not valid base64') from None
    try:
        return preprocess(open_image(io.BytesIO(data), MAX_PIXELS), dataset)
    except UnreadableImage as e:
        raise BadRequest(400, f'"image": {e}') from None
    except BlankImageError as e:
        raise BadRequest(422, str(e)) from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes):
    """The body as strict JSON: UTF-8, no NaN/Infinity, no nesting deep enough to exhaust the stack."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadRequest(400, f"body is not valid JSON: not UTF-8 ({e.reason} at byte {e.start})") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise BadRequest(400, "body is not valid JSON: nested too deeply") from None
    except ValueError as e:
        raise BadRequest(400, f"body is not valid JSON: {e}") from None


def check_content_type(value: str | None) -> None:
    """JSON bodies only: application/json (or a +json type), in UTF-8 if a charset is given."""
    media, _, params = (value or "").partition(";")
    media = media.strip().lower()
    charset = next((p.split("=", 1)[1].strip().strip('"').lower() for p in params.split(";")
                    if p.strip().lower().startswith("charset=")), "utf-8")
    if not (media == "application/json" or (media.startswith("application/") and media.endswith("+json"))):
        raise BadRequest(415, f"Content-Type must be application/json, got {value!r}")
    if charset not in ("utf-8", "utf8"):
        raise BadRequest(415, f"Content-Type charset must be utf-8, got {charset!r}")


def handle_predict(predictor: Predictor, body: bytes) -> dict:
    """The answer to a POST /predict body; BadRequest for anything malformed."""
    request = parse_json(body)
    if not isinstance(request, dict) or len({"pixels", "image"} & request.keys()) != 1:
        raise BadRequest(400, 'body must be a JSON object with either "pixels" or "image"')
    preprocessed = "image" in request
    x = _image(request["image"], predictor.dataset) if preprocessed else _pixels(request["pixels"])
    out = answer(predictor.probabilities(x[None])[0], predictor.dataset)
    return {**out, "input": x.astype(int).tolist()} if preprocessed else out


class Handler(BaseHTTPRequestHandler):
    server_version = "mnist-harness"
    timeout = 30  # seconds a client may stall mid-request before its connection is dropped

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def send_error(self, code, message=None, explain=None):
        """http.server's own errors (bad request line, unknown method, ...) as JSON too."""
        code = 405 if code == 501 else code  # a method we have no handler for is the client's mistake
        self.close_connection = True
        self._json(code, {"error": message or self.responses.get(code, ("error",))[0]})

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/info":
            return self._json(200, self.server.info)
        file = self.server.files.get(path)
        if file is None:
            return self._json(405 if path == "/predict" else 404, {"error": f"no route GET {path}"})
        self._send(200, file.read_bytes(), TYPES[file.suffix])

    do_HEAD = do_GET

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        if path != "/predict":
            known = path == "/info" or path in self.server.files
            return self._json(405 if known else 404, {"error": f"no route POST {path}"})
        try:
            body = self._body()  # read first, so that an error answer leaves no body unread on the connection
            check_content_type(self.headers["Content-Type"])
            self._json(200, handle_predict(self.server.predictor, body))
        except BadRequest as e:
            self._json(e.status, {"error": str(e)})
        except Exception as e:  # a bug or a model failure: this request fails, the server serves on
            print(f"error: POST /predict failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            self.close_connection = True
            self._json(500, {"error": f"internal error: {type(e).__name__}"})

    def _body(self) -> bytes:
        try:
            length = int(self.headers["Content-Length"])
        except (TypeError, ValueError):
            raise BadRequest(411, "a Content-Length header is required") from None
        if length < 0:
            raise BadRequest(400, "Content-Length must not be negative")
        if length > MAX_BODY:
            if length <= MAX_DRAIN:
                while length > 0 and (chunk := self.rfile.read(min(length, 1 << 16))):
                    length -= len(chunk)
            self.close_connection = True
            raise BadRequest(413, f"body too large: at most {MAX_BODY} bytes")
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            raise BadRequest(400, f"body ended after {len(body)} of the {length} bytes Content-Length announced")
        return body

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # The listen backlog: connections the kernel holds until they are accepted. http.server's 5 made
    # bursts of 50-200 clients see connection resets; the kernel caps it at net.core.somaxconn.
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        """One line instead of a traceback: a client that hangs up mid-answer is not the server's problem."""
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            print(f"error: request from {client_address[0]}: {type(error).__name__}: {error}", file=sys.stderr)


def make_server(trial_dir: Path, host: str = "127.0.0.1", port: int = 8000,
                verbose: bool = False) -> ThreadingHTTPServer:
    """A server (not yet serving) for the trial's model; port 0 picks a free one."""
    model, record = load_trial_model(trial_dir)
    dataset = dataset_of(record)
    server = Server((host, port), Handler)
    server.predictor = Predictor(model, dataset)
    server.verbose = verbose
    server.info = {**{k: record.get(k) for k in ("trial_id", "experiment", "status", "test_accuracy", "params")},
                   "family": model.name, "path": str(Path(trial_dir).resolve()),
                   "dataset": {"name": dataset.name, "title": dataset.title, "classes": list(dataset.classes),
                               "drawn": dataset.drawn}}
    server.files = {"/": STATIC / "index.html",
                    **{f"/static/{f.name}": f for f in STATIC.iterdir() if f.suffix in TYPES}}
    return server


def main(argv: list[str] | None = None) -> int:
    p = parser("python -m harness serve", __doc__)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: loopback only; 0.0.0.0 lets anyone on the network use it)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--verbose", action="store_true", help="log every request")
    args = p.parse_args(argv)
    try:
        trial_dir = trial_dir_of(args.trial, args.sweep)
        server = make_server(trial_dir, args.host, args.port, args.verbose)
    except (FileNotFoundError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    host, port = server.server_address[:2]
    try:  # Ctrl-C as soon as the address is out (a script reading it, say) stops it cleanly too
        print(f"serving trial {trial_dir} on http://{host}:{port}/  (Ctrl-C stops)", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
