"""The drawing page in real headless Chromium (Debian's), driven by Playwright, against the real server."""

import json

import pytest
from chromium import ARGS, CHROMIUM, sync_api
from fixtures_model import post

pytestmark = pytest.mark.slow  # a browser

PAD = "#pad"


@pytest.fixture(scope="module")
def page(server_url):  # noqa: F811
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 600})
        page.problems = []
        page.on("pageerror", lambda e: page.problems.append(str(e)))
        page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
        page.goto(server_url + "/")
        page.wait_for_function("() => document.getElementById('trial').textContent.startsWith('trial t0')")
        yield page
        browser.close()


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
    """What the page displays: the digit, and per bar its probability, percentage text and highlight."""
    return page.evaluate("""() => ({
        digit: document.getElementById('digit').textContent,
        bars: [...document.querySelectorAll('#bars li')].map(li => ({
            p: li.dataset.probability, pct: li.querySelector('.pct').textContent, top: li.classList.contains('top')})),
        seen: [...document.getElementById('seen').getContext('2d').getImageData(0, 0, 28, 28).data]
            .filter((_, i) => i % 4 === 0),
        ink: document.getElementById('pad').getContext('2d').getImageData(0, 0, 280, 280).data
            .some((v, i) => i % 4 !== 3 && v !== 0),
    })""")


def check_page_equals_api(page, server_url, last):  # noqa: F811
    status, api = post(server_url + "/predict", json.loads(last["request"]))
    assert status == 200 and api == last["response"]  # the same drawing, re-posted, gets the same answer
    view = shown(page)
    assert view["digit"] == str(api["digit"]) and view["ink"]
    for d, bar in enumerate(view["bars"]):
        assert float(bar["p"]) == api["probabilities"][d]
        assert abs(float(bar["pct"].rstrip("%")) - 100 * api["probabilities"][d]) <= 0.05 + 1e-9
        assert bar["top"] == (d == api["digit"])
    assert view["seen"] == [v for row in api["input"] for v in row]  # "what the model sees" is the model's input
    return api


def test_drawing_a_digit_shows_what_the_api_answers_and_clear_empties_it(page, server_url):  # noqa: F811
    one = draw(page, [(140, 40), (138, 240)])
    assert check_page_equals_api(page, server_url, one)["digit"] == 1

    page.click("#clear")
    view = shown(page)
    assert view["digit"] == "–" and not view["ink"] and not any(view["seen"])
    assert all(b["pct"] == "" and float(b["p"]) == 0 and not b["top"] for b in view["bars"])
    assert page.evaluate("window.lastPrediction") is None and page.evaluate("document.body.dataset.state") == "empty"

    seven = draw(page, [(60, 50), (220, 50), (120, 250)])
    assert check_page_equals_api(page, server_url, seven)["digit"] == 7
    assert not page.problems, page.problems
