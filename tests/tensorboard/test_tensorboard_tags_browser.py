"""TensorBoard's Time Series and Scalars tabs in real headless Chromium, over two of quick.yaml's trials
(on a tiny subset): the metrics come first, and the run selector shows each trial's setting whole.

Both tabs order tag groups by name; the per-layer statistics (histograms every epoch) must come after
accuracy and loss. On failure the page is kept as test-artifacts/tag-groups-*.png or run-names.png.
"""

import time
from contextlib import contextmanager

import pytest

from chromium import ARGS, CHROMIUM, sync_api
from fixtures_eventlog import tensorboard
from harness.config import plan, schema
from harness.layout import Workspace, run_name
from harness.training.trial import run_trial
from sweeps import ROOT
from tiny import TINY, merge

pytestmark = pytest.mark.slow  # a browser

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


@contextmanager
def opened(eventlog, tab: str, viewport: dict, shot: str):
    """TensorBoard's `tab` over `eventlog` in Chromium; on failure the page is kept as test-artifacts/`shot`.png."""
    with tensorboard(eventlog) as base, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport=viewport)
        try:
            page.goto(f"{base}/#{tab}")
            yield page
        except Exception:
            (ROOT / "test-artifacts").mkdir(exist_ok=True)
            page.screenshot(path=str(ROOT / "test-artifacts" / f"{shot}.png"), full_page=True)
            raise
        finally:
            browser.close()


def polled(read, enough):
    """`read()` once `enough` of it is on the page (the tab fills in after asking the server), or after 60 s."""
    deadline = time.time() + 60
    while not enough(got := read()) and time.time() < deadline:
        time.sleep(0.5)
    return got


@pytest.mark.parametrize("tab,selector", [("timeseries", ".group-title"), ("scalars", ".category-name")])
def test_metrics_open_before_the_layer_statistics(eventlog, tab, selector):
    with opened(eventlog, tab, {"width": 1400, "height": 1000}, f"tag-groups-{tab}") as page:
        groups = polled(lambda: [g for g in page.evaluate(TEXTS, selector) if g and g != "Pinned"],
                        lambda groups: len(groups) >= 5)
        assert groups == [*METRIC_GROUPS, "z_layers"]  # one group of layer statistics, last


# Each run's name in the sidebar: its text, and whether the text lies whole inside the sidebar.
RUN_NAMES = """() => { const side = document.querySelector('nav.sidebar');
    if (!side) return []; const box = side.getBoundingClientRect();
    return [...side.querySelectorAll('tb-data-table-content-row .cell')].filter(c => c.innerText.includes('/'))
        .map(c => { const r = document.createRange(); r.selectNodeContents(c); const t = r.getBoundingClientRect();
                    return [c.innerText.trim(), t.left >= box.left && t.right <= box.right]; }); }"""


def test_the_run_selector_shows_each_trials_setting_whole(eventlog):
    """At 1280 px, Time Series' run selector shows about 26 characters: quick's runs must fit in them."""
    with opened(eventlog, "timeseries", {"width": 1280, "height": 800}, "run-names") as page:
        shown = polled(lambda: dict(page.evaluate(RUN_NAMES)), lambda shown: len(shown) >= len(TRIALS))
        assert sorted(shown) == sorted(f"quick/{run_name(t)}" for t in TRIALS)
        assert all(shown.values()), shown  # none cut off at the sidebar's edge
        assert f"quick/{run_name(TRIALS[0])}" == "quick/h128,drop.2,lr.003,r1"
