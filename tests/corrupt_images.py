"""Image files damaged the ways real ones are: each makes Pillow raise a different exception type."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def corrupt_images() -> dict[str, bytes]:
    """name -> bytes of a damaged image (the exception Pillow raises on it in the name)."""
    noisy = _png(np.random.default_rng(0).integers(0, 255, (300, 300), dtype=np.uint8))  # two IDAT chunks
    second = noisy.index(b"IDAT", noisy.index(b"IDAT") + 4)
    small = _png(np.full((28, 28), 200, np.uint8))
    idat = small.index(b"IDAT")
    return {
        "png-broken-chunk-SyntaxError": noisy[:second] + b"\0\0\0\0" + noisy[second + 4:],
        "png-broken-stream-OSError": small[:idat + 4] + b"\x00\x01garbage" + small[idat + 11:],
        "ppm-bad-maxval-ValueError": b"P5\n28 28\n70000\n" + b"\0" * 784,
        "ppm-truncated-OSError": b"P5\n28 28\n255\n" + b"\0" * 10,
        "ppm-huge-DecompressionBomb": b"P6\n99999999 99999999\n255\n" + b"\0" * 10,
        "tiff-bad-header-Unidentified": b"II*\x00\x08\x00\x00\x00\xff\xff" + b"\0" * 20,
        "bmp-truncated-OSError": b"BM" + b"\xff" * 50,
    }
