"""What TensorBoard shows first, in real headless Chromium at 1280x800, over real trials of quick.yaml (on a
tiny subset): Time Series and Scalars open on the learning curves, drawn; the HParams dashboard leads with
the sweep's metric; the data-less run of the HParams config is last; past TensorBoard's 40 runs, Time Series
still draws every run.

What is asserted is what is on screen: texts by their place in the viewport, and the charts' pixels. On
failure the page is kept as test-artifacts/first-view-*.png.
"""

import io
import shutil
import time
from contextlib import contextmanager

import pytest
from PIL import Image

from chromium import ARGS, CHROMIUM, sync_api
from fixtures_eventlog import tensorboard
from harness.config import plan, schema
from harness.layout import UNION_RUN, Workspace, run_name
from harness.metrics import CURVES, dashboard_order
from harness.sweep.hparams_union import register_sweep
from harness.training.trial import run_trial
from sweeps import ROOT
from tiny import TINY, merge

pytestmark = pytest.mark.slow  # a browser

VIEW = {"width": 1280, "height": 800}
TRIALS = ["hidden=128,dropout=0.2,lr=0.003,rep=1", "hidden=64,dropout=0.0,lr=0.001,rep=4"]  # quick's longest ids
# Time Series' groups, in the order it shows them; Scalars shows the same but the images.
GROUPS = ["curves", "run_time", "schedule", "selection", "steps", "test", "test_digits", "z_layers"]

# Each run's name in Time Series' sidebar: its text, and whether the text lies whole inside the sidebar.
RUN_NAMES = """() => { const side = document.querySelector('nav.sidebar');
    if (!side) return []; const box = side.getBoundingClientRect();
    return [...side.querySelectorAll('tb-data-table-content-row .cell')].filter(c => c.innerText.includes('/'))
        .map(c => { const r = document.createRange(); r.selectNodeContents(c); const t = r.getBoundingClientRect();
                    return [c.innerText.trim(), t.left >= box.left && t.right <= box.right]; }); }"""
# Every text on the page (shadow DOMs included) with its box: [text, top, left, bottom, right, element's class].
TEXTS = """() => { const out = [];
    const walk = (root) => { const w = document.createTreeWalker(root, NodeFilter.SHOW_TEXT); let n;
        while ((n = w.nextNode())) { const t = n.textContent.trim(); const e = n.parentElement;
            if (!t || !e) continue; const r = e.getBoundingClientRect();
            if (r.width && r.height) out.push([t, r.top, r.left, r.bottom, r.right, String(e.className)]); }
        for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot); };
    walk(document.body); return out; }"""
# The same for the elements matching a selector, their whole text without blanks (a card's title, a tag, is
# split over spans).
ELEMENTS = """(selector) => { const out = [];
    const walk = (root) => { for (const e of root.querySelectorAll(selector)) { const r = e.getBoundingClientRect();
            out.push([e.textContent.replace(/\\s+/g, ''), r.top, r.left, r.bottom, r.right, String(e.className)]); }
        for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot); };
    walk(document.body); return out; }"""


def quick_raw(name: str = "quick") -> dict:
    return merge(schema.load_raw(ROOT / "experiments" / "quick.yaml"), TINY, {"name": name, "train": {"epochs": 3}})


@pytest.fixture(scope="module")
def eventlog(tmp_path_factory, mnist):
    """Two of quick.yaml's trials, under their own ids (a race's rep=4 among them), registered as the sweep is."""
    tmp = tmp_path_factory.mktemp("first-view")
    raw = quick_raw()
    cfg, specs = plan.plan(raw)
    register_sweep(tmp / "eventlog", cfg)
    by_id = {s.trial_id: s for s in specs}
    for tid in TRIALS:
        spec = by_id.get(tid) or plan.Planner(raw).spec(by_id[tid.replace(",rep=4", ",rep=0")].settings, 4)
        record = run_trial(spec, Workspace(tmp / "runs", tmp / "eventlog"), mnist)
        assert record.status == "ok" and record.trial_id == tid, record.traceback
    return tmp / "eventlog"


@pytest.fixture(scope="module")
def crowded(eventlog, tmp_path_factory):
    """Two sweeps of 26 runs each (52, past TensorBoard's 40): copies of the real trials' runs."""
    root = tmp_path_factory.mktemp("crowded") / "eventlog"
    for name in ("quick", "quick2"):
        register_sweep(root, plan.plan(quick_raw(name))[0])
        for rep in range(26):
            source = eventlog / "quick" / run_name(TRIALS[rep % 2])
            shutil.copytree(source, root / name / f"{run_name(TRIALS[rep % 2]).rsplit(',', 1)[0]},r{rep}")
    return root


@contextmanager
def opened(logdir, tab: str, shot: str):
    """TensorBoard's `tab` over `logdir` in Chromium at 1280x800; on failure the page is kept."""
    with tensorboard(logdir) as base, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport=VIEW)
        try:
            page.goto(f"{base}/#{tab}")
            yield page
        except Exception:
            (ROOT / "test-artifacts").mkdir(exist_ok=True)
            page.screenshot(path=str(ROOT / "test-artifacts" / f"first-view-{shot}.png"))
            raise
        finally:
            browser.close()


def polled(read, enough, timeout: float = 60):
    """`read()` once `enough` of it is on the page (a tab fills in after asking the server), or at the timeout."""
    deadline = time.time() + timeout
    while not enough(got := read()) and time.time() < deadline:
        time.sleep(0.5)
    return got


def on_screen(texts, top: float = 0, left: float = 0) -> list[list]:
    """The texts whose box lies in the viewport (below `top`, right of `left`), top to bottom, left to right."""
    inside = [t for t in texts if t[1] >= top and t[2] >= left and t[3] <= VIEW["height"] and t[4] <= VIEW["width"]]
    return sorted(inside, key=lambda t: (round(t[1] / 10), t[2]))


def drawn(page, box: dict) -> int:
    """Pixels of `box` in a run's colour (not the white, grey or black of an empty chart's frame and text)."""
    image = Image.open(io.BytesIO(page.screenshot(clip=box))).convert("RGB")
    return sum(1 for r, g, b in image.getdata() if max(r, g, b) - min(r, g, b) > 30)


def chart_below(texts, title: str) -> dict:
    """The chart area under the card or chart headed `title`: its width, and 200 px down."""
    head = next(t for t in texts if t[0] == title)
    return {"x": head[2], "y": head[3] + 20, "width": 300, "height": 200}


def test_time_series_opens_on_the_learning_curves_drawn(eventlog):
    with opened(eventlog, "timeseries", "timeseries") as page:
        texts = polled(lambda: page.evaluate(TEXTS), lambda texts: any(t[0] == "z_layers" for t in texts))
        groups = [t[0] for t in texts if "group-title" in t[5] and t[0] != "Pinned"]
        assert groups == GROUPS  # the curves first, then the other scalars, test, its images, layers last
        texts = polled(lambda: page.evaluate(ELEMENTS, "tb-truncated-path.tag"),
                       lambda texts: any(t[0] == "curves/accuracy_val" for t in texts))
        cards = [t[0] for t in on_screen(texts) if t[0].startswith("curves/")]
        assert cards == sorted(CURVES.values())[:len(cards)] and "curves/accuracy_val" in cards, cards
        time.sleep(2)  # the charts' lines are drawn after their data comes
        assert drawn(page, chart_below(texts, "curves/accuracy_val")) > 300  # both runs' lines, in colour


def test_scalars_opens_on_the_learning_curves_drawn(eventlog):
    with opened(eventlog, "scalars", "scalars") as page:
        texts = polled(lambda: page.evaluate(TEXTS), lambda texts: any(t[0] == "z_layers" for t in texts))
        groups = [t[0] for t in texts if "category-name" in t[5]]
        assert groups == [g for g in GROUPS if g != "test_digits"]  # (images have their own tab)
        charts = [t[0] for t in on_screen(texts) if "heading-label" in t[5] and t[0].startswith("curves/")]
        assert charts == sorted(CURVES.values()), charts  # all four on the first screen
        time.sleep(2)
        assert drawn(page, chart_below(texts, "curves/accuracy_val")) > 300


@pytest.mark.parametrize("tab", ["timeseries", "scalars"])
def test_the_hparams_configs_run_is_last_and_the_run_names_whole(eventlog, tab):
    """The config's run has no data: it must not lead the run list. At 1280 px Time Series' run selector
    shows about 26 characters: quick's runs must fit in them."""
    expected = sorted(f"quick/{run_name(t)}" for t in TRIALS)
    with opened(eventlog, tab, f"runs-{tab}") as page:
        texts = polled(lambda: page.evaluate(TEXTS),
                       lambda texts: sum(t[0].startswith("quick/") for t in texts) >= len(TRIALS) + 1)
        runs = [t for t in texts if t[0].startswith("quick/") and t[4] < 330]  # the sidebar's
        names = [t[0] for t in runs]
        assert names[-1].startswith(f"quick/{UNION_RUN}/") and sorted(names[:-1]) == expected, names
        if tab == "timeseries":
            whole = dict(page.evaluate(RUN_NAMES))
            assert all(whole[name] for name in expected), whole  # none cut off at the sidebar's edge
            assert expected[0] == "quick/h128,drop.2,lr.003,r1"


def test_hparams_leads_with_the_sweeps_metric(eventlog):
    with opened(eventlog, "hparams", "hparams") as page:
        rows_of = lambda texts: [t[0] for t in texts if 262 < t[2] < 300 and t[1] > 190]  # noqa: E731 (Trial IDs)
        texts = polled(lambda: page.evaluate(TEXTS),  # the header, then the rows, each after asking the server
                       lambda texts: any(t[0] == "best validation accuracy" and t[2] > 262 for t in texts)
                       and len(rows_of(texts)) >= 2)
        header = [t[0] for t in sorted((t for t in texts if 130 < t[1] < 190 and t[2] > 262), key=lambda t: t[2])]
        assert header[:2] == ["Trial ID", "Show Metrics"]
        columns = header[2:]
        first_metric = columns.index("best validation accuracy")
        assert set(columns[:first_metric]) == {"model.dropout", "model.hidden", "train.lr"}  # no one-value `sweep`
        assert columns[-1] == "test accuracy"  # the test set's last (of the five metrics shown until more are ticked)
        boxes = page.evaluate(ELEMENTS, "paper-checkbox")  # the filter panel's: hparams and values, then metrics
        panel = [t[0] for t in sorted(boxes, key=lambda t: t[1]) if t[2] < 262]
        listed = [m.display.replace(" ", "") for m in dashboard_order("best_val_accuracy", pruned=False)]
        assert panel[panel.index(listed[0]):][:len(listed)] == listed  # the test set's last, then the statuses
        assert listed[-2:] == ["testaccuracy", "testloss"]
        rows = rows_of(texts)
        assert {r.split(",")[0] for r in rows} == {"h128", "h64"}  # the settings' run names, not "quick/hidden=1..."


def test_past_40_runs_time_series_still_draws_every_run(crowded):
    with opened(crowded, "timeseries", "crowded") as page:
        texts = polled(lambda: page.evaluate(ELEMENTS, "tb-truncated-path.tag"),
                       lambda texts: any(t[0] == "curves/accuracy_val" for t in texts))
        checked = polled(lambda: page.evaluate("() => [...document.querySelectorAll('nav.sidebar mat-checkbox')]"
                                               ".filter(c => c.querySelector('input').checked).length"),
                         lambda n: n >= 52)
        assert checked >= 52  # every run ticked, without a click
        time.sleep(3)
        assert drawn(page, chart_below(texts, "curves/accuracy_val")) > 300
