"""Any picture of one digit or one object -> a 28x28 image formatted the way its dataset's were.

A model only saw its own dataset's images, so a photo or a drawing has to go through the steps
that made them, or the model is asked about something it never saw. Both datasets: light on black.

1. greyscale (transparent pixels count as white paper);
2. invert when the background is light (decided from the border pixels);
3. subtract the background level and stretch the ink to 0-255;
4. crop to the bounding box of the ink;
5. scale, keeping the aspect ratio (anti-aliased), and place in 28x28, by the dataset's rule:
   MNIST: the longer side 20 pixels, the centre of mass of the ink at (14, 14), as measured on
   MNIST's own test set; Fashion-MNIST: the longer side 28 pixels, the box centred (an odd margin's
   extra pixel before the box, as on 98% of its test images).

Everything here is a pure function of its input, so `predict` (files) and
`serve` (drawings, uploads) give the same answer for the same picture.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from harness import datasets

SIZE = 28
BOX = 20  # MNIST's digits were scaled into 20x20
CENTRE = 14.0  # the mean centre of mass (row and column) of the MNIST test digits
INK = 0.1  # a pixel is ink when it is at least this fraction of the brightest one


class BlankImageError(ValueError):
    """The image has nothing in it: all of it is (nearly) one grey level."""


def greyscale(image: Image.Image | np.ndarray) -> np.ndarray:
    """The image as a 2-D float32 array of grey levels 0-255 (0 = black)."""
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            return image.astype(np.float32)
        if image.ndim != 3 or image.shape[2] not in (3, 4):
            raise ValueError(f"expected an H x W, H x W x 3 or H x W x 4 array, got shape {image.shape}")
        image = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    image = ImageOps.exif_transpose(image)  # photos: the way they were taken, not the way the sensor stores them
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    return np.asarray(image.convert("L"), dtype=np.float32)


def _normalise(grey: np.ndarray, what: str) -> np.ndarray:
    """White ink on a 0 background, stretched to 0-255 (steps 2-3); `what` names the missing thing."""
    if grey.size == 0:
        raise BlankImageError("the image is empty: it has no pixels")
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if np.median(border) > 127:
        grey, border = 255 - grey, 255 - border
    ink = np.clip(grey - np.median(border), 0, None)
    peak = float(ink.max())
    if peak < INK * 255:
        raise BlankImageError(f"the image is blank: no {what} found")
    return ink * (255 / peak)


def _fit_box(ink: np.ndarray, side: int) -> np.ndarray:
    """The ink's bounding box scaled so its longer side is `side` pixels (steps 4-5)."""
    rows, cols = np.nonzero(ink >= INK * 255)
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = crop.shape
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    scaled = Image.fromarray(crop.astype(np.float32), mode="F").resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(scaled), 0, 255)


def _place(box: np.ndarray, top: int, left: int) -> np.ndarray:
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[top:top + box.shape[0], left:left + box.shape[1]] = box
    return out


def _centre_by_mass(box: np.ndarray) -> np.ndarray:
    """`box` placed in SIZE x SIZE with its centre of mass at CENTRE (MNIST)."""
    h, w = box.shape
    total = box.sum()
    cy = (box.sum(axis=1) @ np.arange(h)) / total
    cx = (box.sum(axis=0) @ np.arange(w)) / total
    return _place(box, int(np.clip(round(CENTRE - cy), 0, SIZE - h)), int(np.clip(round(CENTRE - cx), 0, SIZE - w)))


def _centre_by_box(box: np.ndarray) -> np.ndarray:
    """`box` placed in the middle of SIZE x SIZE, an odd margin's extra pixel first (Fashion-MNIST)."""
    h, w = box.shape
    return _place(box, (SIZE + 1 - h) // 2, (SIZE + 1 - w) // 2)


def preprocess(image: Image.Image | np.ndarray, dataset: datasets.Dataset = datasets.MNIST) -> np.ndarray:
    """A 28x28 float32 array of whole grey levels 0-255, formatted like `dataset`'s images (see the
    module docstring). Raises BlankImageError when there is nothing to find."""
    ink = _normalise(greyscale(image), "digit" if dataset.drawn else "object")
    if dataset.centred_by_mass:
        placed = _centre_by_mass(_fit_box(ink, BOX))
    else:
        placed = _centre_by_box(_fit_box(ink, SIZE))
    return np.rint(placed).astype(np.float32)
