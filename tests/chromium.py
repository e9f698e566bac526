"""Debian's Chromium for browser tests, driven by Playwright; the importing test module skips without them."""

import shutil

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python: pip install playwright")
CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip("needs Chromium: apt-get install chromium", allow_module_level=True)

# Headless, and no background traffic: this machine reaches only loopback.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
