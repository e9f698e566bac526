"""TensorBoard's Time Series and Scalars tabs in real headless Chromium, over two of quick.yaml's trials
(on a tiny subset): the metrics come first, and the run selector shows each trial's setting whole.

Both tabs order tag groups by name; the per-layer statistics (histograms every epoch) must come after
accuracy and loss. On failure the page is kept as test-artifacts/tag-groups-*.png or run-names.png.
"""

import time

import pytest

from chromium import ARGS, CHROMIUM, sync_api
from fixtures_eventlog import tensorboard
from harness.config import plan, schema
from harness.layout import Workspace, run_name
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


TRIALS = ["hidden=128,dropout=0.2,lr=0.003,rep=1", "hidden=64,dropout=0.0,lr=0.001,rep=4"]  # quick's longest ids


@pytest.fixture(scope="module")
def eventlog(tmp_path_factory, mnist):
    """Two of quick.yaml's trials, under their own ids (a race's rep=4 among them), histograms every epoch."""
    tmp = tmp_path_factory.mktemp("tags")
    raw = merge(schema.load_raw(ROOT / "experiments" / "quick.yaml"), TINY)
    by_id = {s.trial_id: s for s in plan.plan(raw)[1]}
    for tid in TRIALS:
        spec = by_id.get(tid) or plan.Planner(raw).spec(by_id[tid.replace(",rep=4", ",rep=0")].settings, 4)
        record = run_trial(spec, Workspace(tmp / "runs", tmp / "eventlog"), mnist)
        assert record.status == "ok" and record.trial_id == tid, record.traceback
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


# Each run's name in the sidebar: its text, and whether the text lies whole inside the sidebar.
RUN_NAMES = """() => { const side = document.querySelector('nav.sidebar');
    if (!side) return []; const box = side.getBoundingClientRect();
    return [...side.querySelectorAll('tb-data-table-content-row .cell')].filter(c => c.innerText.includes('/'))
        .map(c => { const r = document.createRange(); r.selectNodeContents(c); const t = r.getBoundingClientRect();
                    return [c.innerText.trim(), t.left >= box.left && t.right <= box.right]; }); }"""


def test_the_run_selector_shows_each_trials_setting_whole(eventlog):
    """At 1280 px, Time Series' run selector shows about 26 characters: quick's runs must fit in them."""
    with tensorboard(eventlog) as base, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        try:
            page.goto(f"{base}/#timeseries")
            deadline = time.time() + 60
            while True:
                shown = dict(page.evaluate(RUN_NAMES))
                if len(shown) >= len(TRIALS) or time.time() > deadline:
                    break
                time.sleep(0.5)
            assert sorted(shown) == sorted(f"quick/{run_name(t)}" for t in TRIALS)
            assert all(shown.values()), shown  # none cut off at the sidebar's edge
            assert f"quick/{run_name(TRIALS[0])}" == "quick/h128,drop.2,lr.003,r1"
        except Exception:
            shot = ROOT / "test-artifacts" / "run-names.png"
            shot.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            raise
        finally:
            browser.close()
