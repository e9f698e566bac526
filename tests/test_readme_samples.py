"""The README's sample outputs are what the code prints (docs/samples.py), not pasted text gone stale."""

import subprocess
import sys

from sweeps import ROOT

sys.path.insert(0, str(ROOT / "docs"))
import samples  # noqa: E402


def test_the_readmes_samples_are_what_the_code_prints_now():
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "samples.py"), "--check"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_a_stale_sample_is_caught_and_rewritten():
    readme = samples.README.read_text()
    blocks = samples.MARKER.findall(readme)
    assert blocks and all("best_val_accuracy" in b[2] for b in blocks)  # a real compare table in each
    stale = readme.replace("25 trials: 25 ok.", "16 trials: 16 ok.")
    assert stale != readme and samples.rendered(stale) == readme
