"""TensorBoard's Time Series and Scalars tabs in real headless Chromium: the metrics come first.

Both order tag groups by name; the per-layer statistics (histograms every epoch) must come after
accuracy and loss. On failure the page is kept as test-artifacts/tag-groups-*.png.
"""

import time

import pytest

from chromium import ARGS, CHROMIUM, sync_api
from fixtures_eventlog import tensorboard
from harness.config import schema
from harness.config.plan import TrialSpec
from harness.layout import Workspace
from harness.training.trial import run_trial
from sweeps import ROOT
from tiny import TINY, merge

# Texts of the elements matching a selector, shadow DOMs included, in page order.
TEXTS = """(selector) => { const out = [];
    const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
        if (n.matches && n.matches(selector)) out.push((n.innerText || n.textContent || '').trim());
        for (const c of n.children || []) walk(c); };
    walk(document.body); return out; }"""
METRIC_GROUPS = ["test", "time", "train", "val"]


@pytest.fixture(scope="module")
def eventlog(tmp_path_factory, mnist):
    tmp = tmp_path_factory.mktemp("tags")
    cfg = schema.from_dict(merge({"name": "tags"}, TINY, {"model": {"hidden": [16, 8]}}))  # histograms every epoch
    record = run_trial(TrialSpec.single(cfg, "hidden=16-8,rep=0"), Workspace(tmp / "runs", tmp / "eventlog"), mnist)
    assert record.status == "ok", record.traceback
    return tmp / "eventlog"


@pytest.mark.parametrize("tab,selector", [("timeseries", ".group-title"), ("scalars", ".category-name")])
def test_metrics_open_before_the_layer_statistics(eventlog, tab, selector):
    with tensorboard(eventlog) as base, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{base}/#{tab}")
            deadline = time.time() + 60
            while True:  # the tab lists its groups once it has asked the server for the tags
                groups = [g for g in page.evaluate(TEXTS, selector) if g and g != "Pinned"]
                if len(groups) >= 5 or time.time() > deadline:
                    break
                time.sleep(0.5)
            assert groups == [*METRIC_GROUPS, "z_layers"]  # one group of layer statistics, last
        except Exception:
            shot = ROOT / "test-artifacts" / f"tag-groups-{tab}.png"
            shot.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            raise
        finally:
            browser.close()
