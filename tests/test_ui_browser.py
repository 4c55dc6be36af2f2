"""``pixelrnn ui`` end to end in a real headless browser: Debian's Chromium driven by Selenium.

The command serves a freshly trained tiny model; the browser loads the page, reads the model card, draws samples,
picks a test image and completes it, uploads a file that is not an image, asks for the bits of the image and
compresses it. The
pictures are read back from the server and checked; a screenshot of the page is saved in ``$PIXELRNN_TEST_ARTIFACTS``
(default ``test-artifacts/``). Needs the ui extra and selenium (``pip install -e '.[dev]'``) and installs
``chromium`` + ``chromium-driver`` with apt-get where missing (see ``browser.py``); it skips, saying why, only when
they cannot be had.
"""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_runs import tiny_digits_run

pytest.importorskip("gradio", reason="the page needs the ui extra (pip install -e '.[ui]')")
pytest.importorskip("selenium", reason="the browser test needs selenium (pip install -e '.[dev]')")

from browser import chromium  # noqa: E402  (after the skips: it imports selenium)

pytestmark = pytest.mark.slow
ARTIFACTS = Path(os.environ.get("PIXELRNN_TEST_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts"))
WAIT = 180  # seconds for one step of the page: two shared CPU cores can be slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``pixelrnn ui RUN --port P`` in a subprocess, serving a tiny trained model: its address."""
    folder = tmp_path_factory.mktemp("browser")
    run = tiny_digits_run(folder / "run")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    log = folder / "server.log"  # a file, not a pipe: a server that logs much never blocks on it
    with open(log, "w") as output:
        process = subprocess.Popen([sys.executable, "-m", "pixelrnn", "ui", str(run), "--port", str(port),
                                    "--device", "cpu"], stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        address = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + WAIT
        while f"on {address}" not in log.read_text():  # the line printed once the server answers
            assert process.poll() is None and time.monotonic() < deadline, f"no server: {log.read_text()}"
            time.sleep(0.2)
        yield address
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def page(server):
    driver = chromium(1280, 1000)
    driver.get(server)
    yield driver
    driver.quit()


def _wait_text(driver, selector: str, pattern: str) -> str:
    """The text of ``selector`` once it matches ``pattern`` (a regular expression)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def matching(driver):
        text = driver.find_element(By.CSS_SELECTOR, selector).text
        return text if re.search(pattern, text) else False

    return WebDriverWait(driver, WAIT, poll_frequency=0.2).until(matching, f"{selector} never showed {pattern!r}")


def _click(driver, selector: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, selector).click()


def _type(driver, selector: str, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    field = driver.find_element(By.CSS_SELECTOR, f"{selector} input")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(text, Keys.TAB)


def _picture(driver, selector: str) -> np.ndarray:
    """The picture an image component shows, fetched from the server as the browser did."""
    from selenium.webdriver.common.by import By

    source = driver.find_element(By.CSS_SELECTOR, f"{selector} img").get_attribute("src")
    with urllib.request.urlopen(source, timeout=60) as response:
        return np.asarray(Image.open(io.BytesIO(response.read())))


def test_the_page_draws_samples_and_completes_a_test_image(page):
    from selenium.webdriver.common.by import By

    card = _wait_text(page, "#card", "PixelCNN")
    assert page.title == "pixelrnn"
    assert "digits, 1×8×8 images, 17 levels, unconditional" in card and "bits/dim" in card
    _type(page, "#sample-count", "4")
    _click(page, "#draw")
    status = _wait_text(page, "#sample-status", r"^4 samples \(seed 0, temperature 1\) in [\d.]+ s$")
    assert status
    samples = _picture(page, "#samples")
    assert samples.shape == (2 * 128 + 3 * 4, 2 * 128 + 3 * 4)  # 2 × 2 digits, 16× enlarged, 4 pixels apart
    assert len(np.unique(samples)) > 2

    page.find_element(By.XPATH, "//button[@role='tab' and contains(., 'An image')]").click()
    _type(page, "#test-index", "1")
    _click(page, "#pick")
    _wait_text(page, "#image-status", r"test image 1: 1×8×8")
    _click(page, "#complete")
    _wait_text(page, "#complete-status", r"^4 completions of test image 1 with its bottom 4 rows hidden in")
    grid = _picture(page, "#completions")  # the image, what the model sees, 4 completions: one row
    assert grid.shape == (128 + 2 * 4, 6 * 128 + 7 * 4)
    cells = [grid[4:4 + 128, 4 + k * 132:4 + k * 132 + 128] for k in range(6)]
    for completion in cells[2:]:
        assert np.array_equal(completion[:64], cells[0][:64])  # the top 4 rows are the image's
    assert len(np.unique(cells[1][64:])) == 1  # what the model sees: its bottom half one grey
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert page.save_screenshot(str(ARTIFACTS / "ui-completion.png"))


def test_a_bad_upload_is_a_line_on_the_page_and_the_page_goes_on(page, tmp_path):
    from selenium.webdriver.common.by import By

    (tmp_path / "notes.png").write_text("not an image")
    page.find_element(By.CSS_SELECTOR, "#upload input[type=file]").send_keys(str(tmp_path / "notes.png"))
    message = _wait_text(page, "#image-status", r"⚠")
    assert message.startswith("⚠ notes.png is not a readable PNG image") and "Traceback" not in page.page_source
    page.find_element(By.XPATH, "//button[@role='tab' and normalize-space(.)='Bits']").click()
    _click(page, "#bits")
    line = _wait_text(page, "#bits-status", r"bits/dim")
    assert re.fullmatch(r"−log2 p\(x\) = [\d.]+ bits, [\d.]+ bits/dim", line)
    time.sleep(0.5)  # the heat map has arrived with its line; let it paint
    assert page.save_screenshot(str(ARTIFACTS / "ui-bits.png"))
    page.find_element(By.XPATH, "//button[@role='tab' and normalize-space(.)='Compress']").click()
    _click(page, "#compress")
    table = _wait_text(page, "#compress-status", r"PNG")
    size = int(re.search(r"archive \(download\)\s+([\d,]+) bytes", table).group(1).replace(",", ""))
    link = page.find_element(By.CSS_SELECTOR, "#archive a").get_attribute("href")
    with urllib.request.urlopen(link, timeout=60) as response:
        assert len(response.read()) == size  # the file offered for download is the archive the table sizes
