"""`python -m harness predict`: which class (a digit, or a Fashion-MNIST item) is in each image file,
by a trained trial.

Every file goes through harness.serving.preprocess the way the trial's dataset was made (greyscale,
invert a light background, crop; MNIST: scale into 20x20, centre by mass in 28x28; Fashion-MNIST:
longest side 28, centred), so a phone photo of a digit on paper, or of a shoe on a white table, is
asked about in the form the model was trained on. Each answer is the class name (for MNIST the digit);
--json adds its label number, "label" (and "digit", the same number, for older readers). A file that
cannot be read, or has nothing in it, gets its own error; the others are still answered, and the
exit status is 1 when any file failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness import datasets
from harness.analysis import results
from harness.config import schema
from harness.layout import CONFIG
from harness.serving.preprocess import SIZE, greyscale, preprocess
from harness.record import OK, DamagedRecord, TrialRecord



def trial_dir_of(trial: Path | None, sweep: Path | None) -> Path:
    """The trial to use: `trial` itself, or the best finished trial of `sweep` by the sweep's own
    metric (validation accuracy unless its config says otherwise), never by the test set."""
    if trial is not None:
        if not Path(trial).is_dir():
            raise FileNotFoundError(f"--trial {trial}: no such trial folder (trial folders are runs/NAME/<trial id>, "
                                    "as `python -m harness compare runs/NAME` lists them)")
        return Path(trial)
    from harness.analysis.compare import metric_of

    return results.best_trial_dir(Path(sweep), *metric_of(Path(sweep)))


def describe_trial(trial_dir: Path, record: dict, sweep: Path | None) -> str:
    """'MNIST trial DIR (best by best_val_accuracy 98.10%; test accuracy 97.95%)': which model answers,
    on what, and why it."""
    shown = lambda name: (f"{record[name]:.2%}" if name.endswith("accuracy") else f"{record[name]:.4g}")  # noqa: E731
    parts = []
    if sweep is not None:
        from harness.analysis.compare import metric_of

        metric = metric_of(Path(sweep))[0]
        if record.get(metric) is not None:
            parts.append(f"best of the sweep by {metric} {shown(metric)}")
    if record.get("test_accuracy") is not None:
        parts.append(f"test accuracy {shown('test_accuracy')}")
    return f"{dataset_of(record).title} trial {trial_dir}" + (f" ({'; '.join(parts)})" if parts else "")


def load_trial_model(trial_dir: Path):
    """(the trial's Keras model, its trial.json as a dict).

    FileNotFoundError when the trial kept no model; ValueError when its model
    file is damaged. A damaged trial.json only costs the displayed details: the dataset is then
    taken from the trial's config.yaml.
    """
    trial_dir = Path(trial_dir)
    # Imported here so that `--help` and argument errors answer without TensorFlow's start-up time.
    from harness.training import keep

    model = keep.load(trial_dir)
    try:
        record = TrialRecord.load(trial_dir)
    except DamagedRecord as e:
        print(f"warning: {e}", file=sys.stderr)
        return model, {"trial_id": trial_dir.name, "status": OK, "dataset": _configured_dataset(trial_dir)}
    return model, asdict(record)


def _configured_dataset(trial_dir: Path) -> str:
    """data.dataset of the trial's config.yaml; "mnist" when it says none (older trials) or cannot be read."""
    try:
        return schema.read_yaml(trial_dir / CONFIG)["data"].get("dataset", "mnist")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        print(f"warning: {trial_dir / CONFIG}: no dataset found ({type(e).__name__}: {e}); assuming mnist",
              file=sys.stderr)
        return "mnist"


def dataset_of(record: dict) -> datasets.Dataset:
    """The dataset the trial trained on: its classes name the answers, its rules preprocess the inputs."""
    name = record.get("dataset") or "mnist"
    if name not in datasets.DATASETS:
        raise ValueError(f"the trial was trained on {name!r}, a dataset this harness does not know "
                         f"(it knows {', '.join(datasets.NAMES)})")
    return datasets.get(name)


class Predictor:
    """A model turned into answers about `dataset`; safe to call from several threads at once."""

    def __init__(self, model, dataset: datasets.Dataset = datasets.MNIST):
        self.model = model
        self.dataset = dataset
        self._lock = threading.Lock()

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Softmax of the logits for N x 28 x 28 images (0-255) formatted like the dataset's."""
        import keras

        x = np.asarray(images, dtype=np.float32)
        # A model loaded from model.keras declares its one input as a list: given the bare array,
        # Keras warns on every call that the structures differ.
        inputs = [x] if isinstance(self.model.input, list) else x
        with self._lock:  # one Keras call at a time: models are not documented as thread-safe
            logits = self.model(inputs, training=False)
            return keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1)).astype(np.float64)


def _named(dataset: datasets.Dataset, k: int) -> dict:
    """A label as answers give it: its number ("digit" too: the name answers had before Fashion-MNIST) and class."""
    return {"label": int(k), "digit": int(k), "class": dataset.label(k)}


def answer(probs: np.ndarray, dataset: datasets.Dataset) -> dict:
    """The JSON-ready answer for one image's ten probabilities."""
    order = np.argsort(-probs, kind="stable")
    return {**_named(dataset, order[0]), "probabilities": [float(p) for p in probs],
            "top3": [{**_named(dataset, k), "probability": float(probs[k])} for k in order[:3]]}


class UnreadableImage(ValueError):
    """A file or upload that does not decode as an image: the input's fault, never the server's."""


def open_image(source, max_pixels: int | None = None) -> Image.Image:
    """`source` (a path or a binary file object) decoded; UnreadableImage saying why it is not an image.

    `max_pixels` refuses larger images before their pixels are decoded.
    """
    try:
        image = Image.open(source)
        if max_pixels is not None and image.size[0] * image.size[1] > max_pixels:
            raise UnreadableImage(f"image is {image.size[0]}x{image.size[1]}; at most {max_pixels} pixels")
        image.load()
        return image
    except UnidentifiedImageError:
        raise UnreadableImage("not an image Pillow can read") from None
    except Image.DecompressionBombError as e:
        raise UnreadableImage(str(e)) from None
    except UnreadableImage:
        raise
    except OSError as e:
        if e.errno is not None:  # the file system's error: missing, a directory, no permission...
            raise UnreadableImage(f"cannot read: {e.strerror or e}") from None
        raise UnreadableImage(f"damaged image: {e}") from None
    except Exception as e:  # Pillow's decoders raise what they meet: SyntaxError (a broken PNG chunk),
        # ValueError (a bad PPM header), struct.error, EOFError, IndexError...
        raise UnreadableImage(f"damaged image: {type(e).__name__}: {e}") from None


def read_image(path: Path, dataset: datasets.Dataset, raw: bool = False) -> np.ndarray:
    """The file as a 28x28 model input: preprocessed for `dataset`, or (`raw`) as is, which must then be 28x28."""
    image = open_image(path)
    if not raw:
        return preprocess(image, dataset)
    grey = greyscale(image)
    if grey.shape != (SIZE, SIZE):
        raise ValueError(f"--no-preprocess needs 28x28 images, this one is {grey.shape[1]}x{grey.shape[0]}")
    return grey


def predict_files(predictor: Predictor, files: list[Path], raw: bool = False) -> list[dict]:
    """One result per file, in order: its answer, or {"error": why}."""
    inputs, out = {}, []
    for i, f in enumerate(files):
        try:
            inputs[i] = read_image(f, predictor.dataset, raw)
            out.append({"file": str(f)})
        except ValueError as e:  # unreadable (UnreadableImage), or blank (BlankImageError)
            out.append({"file": str(f), "error": str(e)})
    if inputs:
        probs = predictor.probabilities(np.stack(list(inputs.values())))
        for i, p in zip(inputs, probs):
            out[i].update(answer(p, predictor.dataset))
    return out


def _format(result: dict) -> str:
    if "error" in result:
        return f"{result['file']}: error: {result['error']}"
    top = ", ".join(f"{t['class']} {t['probability']:.3f}" for t in result["top3"])
    return f"{result['file']}: {result['class']}   (top 3: {top})"


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The options `predict` and `serve` share: which trial's model to use."""
    p = argparse.ArgumentParser(prog=prog, description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", type=Path, metavar="DIR", help="a trial directory, e.g. runs/quick/hidden=128,dropout=0.0,lr=0.003,rep=0")
    which.add_argument("--sweep", type=Path, metavar="DIR",
                       help="a sweep directory, e.g. runs/quick: use its best finished trial by the sweep's metric "
                       "(the best repeat of the setting compare ranks first)")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser("python -m harness predict", __doc__ + """
examples:
  python -m harness predict --sweep runs/quick photo.jpg scan.png
  python -m harness predict --trial runs/quick/hidden=128,dropout=0.0,lr=0.003,rep=0 --json digits/*.png""")
    p.add_argument("files", nargs="+", type=Path, metavar="IMAGE", help="image files (PNG, JPEG, ... any size)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON list: per file class, label (and digit, the same number), "
                   "probabilities (10), top3, or error")
    p.add_argument("--no-preprocess", action="store_true",
                   help="feed 28x28 images (light on black, as the trial's dataset) to the model exactly as they are")
    args = p.parse_args(argv)
    try:
        trial_dir = trial_dir_of(args.trial, args.sweep)
        model, record = load_trial_model(trial_dir)
        predictor = Predictor(model, dataset_of(record))
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(describe_trial(trial_dir, record, args.sweep), file=sys.stderr)
    out = predict_files(predictor, args.files, raw=args.no_preprocess)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for r in out:
            print(_format(r), file=sys.stderr if "error" in r else sys.stdout)
    return 1 if any("error" in r for r in out) else 0
