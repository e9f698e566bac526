"""TensorBoard's HParams tab in real headless Chromium (Debian's), over an eventlog of three sweeps.

On failure the page is kept as test-artifacts/hparams-dashboard.png.
"""

import time

import pytest

from chromium import ARGS, CHROMIUM, sync_api
from fixtures_eventlog import COLUMNS, SWEEPS, experiment
from sweeps import ROOT

pytestmark = pytest.mark.slow  # a browser

SCREENSHOT = ROOT / "test-artifacts" / "hparams-dashboard.png"

# Texts of every checkbox in the dashboard's panels, shadow DOMs included, in page order.
CHECKBOXES = """() => { const out = [];
    const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
        for (const c of n.children || []) walk(c);
        if (n.tagName === 'PAPER-CHECKBOX') out.push(n.textContent.trim()); };
    walk(document.body); return out; }"""


def filter_panel(texts: list[str], names: set[str], metrics: set[str]) -> dict[str, list[str]]:
    """The panel's hparams, each with the values listed under it (the checkboxes after its own, up to the metrics)."""
    panel: dict[str, list[str]] = {}
    current = None
    for text in texts:
        if text in metrics:
            break
        if text in names:
            current = panel.setdefault(text, [])
        elif current is not None and text:
            current.append(text)
    return panel


def as_shown(value) -> str | float:
    """A domain value as the panel's text compares: numbers by value (it shows 0.10000)."""
    return float(value) if isinstance(value, (int, float)) else value


def test_the_filter_panel_lists_every_sweeps_values(tb_eventlog):
    exp = experiment(tb_eventlog)
    names = COLUMNS
    metrics = {m["displayName"] for m in exp["metricInfos"]}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{tb_eventlog}/#hparams")
            deadline = time.time() + 60
            while True:  # the dashboard fills its panel after asking the plugin
                panel = filter_panel(page.evaluate(CHECKBOXES), names, metrics)
                if set(panel) == names and all(panel.values()) or time.time() > deadline:
                    break
                time.sleep(0.5)
            assert set(panel) == names
            assert sorted(panel["sweep"]) == sorted(SWEEPS)
            for h in exp["hparamInfos"]:
                shown = [float(v) if h["type"] == "DATA_TYPE_FLOAT64" else v for v in panel[h["name"]]]
                assert shown == [as_shown(v) for v in h["domainDiscrete"]], h["name"]
            assert [float(v) for v in panel["train.lr"]] == [0.01, 0.1, 0.5]  # the grid's, bin's and soft's
        except Exception:
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            raise
        finally:
            browser.close()
