"""The page in real headless Chromium (Debian's), driven by Playwright, against the real servers: drawing
for an MNIST model, uploading and dropping photos for a Fashion-MNIST one."""

import base64
import io
import json

import pytest
from chromium import ARGS, CHROMIUM, sync_api
from fixtures_model import post, product_photo
from PIL import Image

from harness import datasets
from harness.serving.preprocess import preprocess

pytestmark = pytest.mark.slow  # a browser

PAD = "#pad"


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module (Playwright's sync API allows one instance at a time)."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def _open(browser, url):
    """The page at `url`, once /info has set it up; page.problems collects its errors."""
    page = browser.new_page(viewport={"width": 900, "height": 600})
    page.problems = []
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.goto(url + "/")
    page.wait_for_function("() => document.getElementById('trial').textContent.startsWith('trial t0')")
    yield page
    page.close()


@pytest.fixture(scope="module")
def page(browser, server_url):  # noqa: F811
    yield from _open(browser, server_url)


@pytest.fixture(scope="module")
def fashion_page(browser, fashion_server_url):  # noqa: F811
    yield from _open(browser, fashion_server_url)


def draw(page, *strokes):
    """Mouse strokes, each a list of (x, y) points in the pad's own 280x280 pixels."""
    box = page.locator(PAD).bounding_box()
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=12)
        page.mouse.up()
    # pointerup asks at once (state "pending"); wait for that last answer.
    page.wait_for_function("() => document.body.dataset.state === 'ready'", timeout=20000)
    return page.evaluate("window.lastPrediction")


def shown(page):
    """What the page displays: the class, and per bar its name, probability, percentage text and highlight."""
    return page.evaluate("""() => ({
        class: document.getElementById('class').textContent,
        bars: [...document.querySelectorAll('#bars li')].map(li => ({
            name: li.querySelector('.name').textContent, p: li.dataset.probability,
            pct: li.querySelector('.pct').textContent, top: li.classList.contains('top')})),
        seen: [...document.getElementById('seen').getContext('2d').getImageData(0, 0, 28, 28).data]
            .filter((_, i) => i % 4 === 0),
        ink: document.getElementById('pad').getContext('2d').getImageData(0, 0, 280, 280).data
            .some((v, i) => i % 4 !== 3 && v !== 0),
    })""")


def check_page_equals_api(page, server_url, last):  # noqa: F811
    status, api = post(server_url + "/predict", json.loads(last["request"]))
    assert status == 200 and api == last["response"]  # the same drawing, re-posted, gets the same answer
    view = shown(page)
    assert view["class"] == api["class"]
    for d, bar in enumerate(view["bars"]):
        assert float(bar["p"]) == api["probabilities"][d]
        assert abs(float(bar["pct"].rstrip("%")) - 100 * api["probabilities"][d]) <= 0.05 + 1e-9
        assert bar["top"] == (d == api["digit"])
    assert view["seen"] == [v for row in api["input"] for v in row]  # "what the model sees" is the model's input
    return api


def test_drawing_a_digit_shows_what_the_api_answers_and_clear_empties_it(page, server_url):  # noqa: F811
    one = draw(page, [(140, 40), (138, 240)])
    assert shown(page)["ink"] and check_page_equals_api(page, server_url, one)["digit"] == 1
    assert [b["name"] for b in shown(page)["bars"]] == [str(d) for d in range(10)]
    assert page.is_visible(PAD) and not page.is_visible("#drop")

    page.click("#clear")
    view = shown(page)
    assert view["class"] == "–" and not view["ink"] and not any(view["seen"])
    assert all(b["pct"] == "" and float(b["p"]) == 0 and not b["top"] for b in view["bars"])
    assert page.evaluate("window.lastPrediction") is None and page.evaluate("document.body.dataset.state") == "empty"

    seven = draw(page, [(60, 50), (220, 50), (120, 250)])
    assert shown(page)["ink"] and check_page_equals_api(page, server_url, seven)["digit"] == 7
    assert not page.problems, page.problems


def png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def answered(page):
    page.wait_for_function("() => document.body.dataset.state === 'ready'", timeout=20000)
    return page.evaluate("window.lastPrediction")


def test_a_fashion_model_is_asked_with_an_uploaded_or_dropped_photo(fashion_page, fashion_server_url,  # noqa: F811
                                                                    fashion):
    page, classes = fashion_page, list(datasets.FASHION_MNIST.classes)
    assert page.is_visible("#drop") and not page.is_visible(PAD)  # no drawing clothes with a mouse
    assert "Fashion-MNIST" in page.text_content("h1") and "Fashion-MNIST" in page.text_content("#trial")
    assert [b["name"] for b in shown(page)["bars"]] == classes
    for i, how, up in [(0, "choose", 4), (1, "drop", 4), (2, "choose", 40)]:  # an ankle boot, a pullover, trousers
        photo = product_photo(fashion.x_test[i], up)
        if how == "choose":
            page.set_input_files("#file", files=[{"name": "item.png", "mimeType": "image/png", "buffer": png(photo)}])
        else:
            page.evaluate("""async (b64) => {
                const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
                const dt = new DataTransfer();
                dt.items.add(new File([bytes], "item.png", { type: "image/png" }));
                const drop = new DragEvent("drop", { dataTransfer: dt, bubbles: true });
                document.getElementById("drop").dispatchEvent(drop);
            }""", base64.b64encode(png(photo)).decode())
        last = answered(page)
        api = check_page_equals_api(page, fashion_server_url, last)
        assert api["class"] in classes and page.is_visible("#photo")
        sent = Image.open(io.BytesIO(base64.b64decode(json.loads(last["request"])["image"].split(",", 1)[1])))
        if up == 4:  # a small photo is sent as it is: the server sees what predict sees
            assert sent.size == photo.size
            assert api["input"] == preprocess(photo, datasets.FASHION_MNIST).astype(int).tolist()
        else:  # a large one is shrunk to 400 pixels on its longer side, to stay under the server's 1 MB
            assert max(sent.size) == 400
        page.click("#clear")
        assert shown(page)["class"] == "–" and not page.is_visible("#photo")
    assert not page.problems, page.problems
