"""A headless Chromium for page tests: Debian's ``chromium`` and ``chromium-driver``, installed with apt-get where
missing (CI runs as root on a clean machine); never a browser downloaded from elsewhere.

:func:`chromium` gives a Selenium driver or skips the test with the reason (no selenium, not root, apt-get failed).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

PACKAGES = ("chromium", "chromium-driver")


def _install() -> str | None:
    """apt-get install the packages; None on success, else why not (one line)."""
    if not shutil.which("apt-get"):
        return "no apt-get on this machine"
    if os.geteuid() != 0:
        return "not root, so apt-get cannot install them"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "--no-install-recommends",
                                                  *PACKAGES]):
        try:
            result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200)
        except subprocess.TimeoutExpired:
            return f"{' '.join(command[:2])} took more than 20 minutes"
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
            return f"{' '.join(command[:2])} failed: {lines[-1][:160]}"
    return None


def chromium_paths() -> tuple[str, str]:
    """(chromium, chromedriver) paths, installing Debian's packages where missing; skips the test if it cannot."""
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        reason = _install()
        if reason:
            pytest.skip(f"headless browser test: Debian's {' and '.join(PACKAGES)} are missing and {reason}")
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip("headless browser test: apt-get installed the packages but chromium/chromedriver are not on PATH")
    return browser, driver


def chromium(width: int = 1280, height: int = 1000):
    """A headless Chromium WebDriver of the given window size (the caller quits it)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="headless browser test: selenium is not installed "
                                    "(pip install -e '.[dev]')")
    browser, driver = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={width},{height}", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    # the driver's path given: Selenium Manager looks nothing up and downloads nothing
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))
