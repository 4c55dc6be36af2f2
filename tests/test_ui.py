"""The page's functions as a library (no gradio needed), and ``pixelrnn ui``'s command line.

The Blocks themselves are built, and their handlers called, only where gradio is installed (``pytest.importorskip``
in the two tests at the end); everything else runs in the plain test suite. The browser test is
``test_ui_browser.py``.
"""

from __future__ import annotations

import math
import re
import sys
import threading

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_runs import tiny_digits_run

from pixelrnn.archive import unpack
from pixelrnn.cli import main
from pixelrnn.cli.ui import is_loopback
from pixelrnn.compress import decompress_bytes, levels_to_bytes
from pixelrnn.errors import CheckpointError, ConfigError, DataError
from pixelrnn.sample import sample
from pixelrnn.ui import actions
from pixelrnn.ui.actions import Drawing
from pixelrnn.ui.images import picture, read_upload
from pixelrnn.ui.jobs import Cancelled, Done, Jobs, Row, watch
from pixelrnn.ui.session import load_models, model_card, picked_test_image


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{"plain": unconditional run, "conditional": class-conditional run} and their LoadedModels."""
    folder = tmp_path_factory.mktemp("ui")
    paths = {"plain": str(tiny_digits_run(folder / "plain")),
             "conditional": str(tiny_digits_run(folder / "conditional", conditional=True))}
    models = load_models(list(paths.values()))
    return {key: models[path] for key, path in paths.items()}


def test_models_load_with_their_cards(runs, tmp_path):
    card = model_card(runs["plain"])
    assert card.startswith("### PixelCNN (`pixelcnn`)") and "**digits**, 1×8×8 images, 17 levels, unconditional" in card
    parameters = sum(p.numel() for p in runs["plain"].model.parameters())
    assert f"parameters: {parameters:,}" in card and "trained: 1 epoch, 3 steps" in card
    test = runs["plain"].test
    assert f"**{test['bits_per_dim']:.4f} bits/dim**" in card and "over 16 test images" in card
    assert "10 classes (class-conditional)" in model_card(runs["conditional"])
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "last.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="is not a readable pixelrnn checkpoint"):
        load_models([runs["plain"].name, str(tmp_path / "bare")])
    with pytest.raises(ConfigError, match="named twice"):
        load_models([runs["plain"].name, runs["plain"].name])


def test_samples_are_the_sample_commands_and_report_their_rows(runs):
    loaded = runs["plain"]
    rows = []
    images = actions.draw_samples(loaded, Drawing(5, seed=3, temperature=0.9), device="cpu",
                                  on_row=lambda partial, done, total: rows.append((partial.clone(), done, total)))
    expected, _ = sample(loaded.checkpoint, 5, seed=3, temperature=0.9, device="cpu")
    assert torch.equal(images, expected)
    assert [(done, total) for _, done, total in rows] == [(row, 8) for row in range(1, 9)]
    assert torch.equal(rows[-1][0], images) and torch.equal(rows[3][0][:, :, :4], images[:, :, :4])
    conditional = actions.draw_samples(runs["conditional"], Drawing(3, label=7), device="cpu")
    labels = torch.full((3,), 7)
    assert torch.equal(conditional, sample(runs["conditional"].checkpoint, 3, labels=labels, device="cpu")[0])
    for drawing, message in ((Drawing(0), "1 to 64 images"), (Drawing(65), "1 to 64 images"),
                             (Drawing(2, label=1), "unconditional: it takes no class")):
        with pytest.raises(ConfigError, match=message):
            actions.draw_samples(loaded, drawing)
    with pytest.raises(ConfigError, match=r"class must be in \[0, 9\]"):
        actions.draw_samples(runs["conditional"], Drawing(2, label=10))
    with pytest.raises(ConfigError, match="temperature"):
        actions.draw_samples(loaded, Drawing(2, temperature=0.0))


def test_completion_keeps_the_top_and_streams_the_whole_grid(runs):
    loaded = runs["plain"]
    pixels, label = picked_test_image(loaded, 2)
    assert pixels.dtype == np.uint8 and pixels.shape == (1, 8, 8) and label is None
    rows = []
    grid = actions.complete_image(loaded, pixels, "test image 2", 3, Drawing(4, seed=1), device="cpu",
                                  on_row=lambda partial, done, total: rows.append((partial.shape, done)))
    image = torch.round(torch.from_numpy(pixels).double() * 16 / 255).long()
    assert grid.shape == (6, 1, 8, 8) and torch.equal(grid[0], image)
    assert (grid[2:, :, :5] == image[:, :5]).all() and (grid[1, :, 5:] == 8).all()  # kept top, hidden bottom
    assert rows[-1] == ((6, 1, 8, 8), 8)
    for hidden in (0, 9):
        with pytest.raises(ConfigError, match="hide 1 to 8 rows"):
            actions.complete_image(loaded, pixels, "x", hidden, Drawing(2))
    with pytest.raises(ConfigError, match=r"test image index must be in \[0, 15\]"):
        picked_test_image(loaded, 16)
    _, digit_label = picked_test_image(runs["conditional"], 0)
    assert digit_label in range(10)


def test_bits_map_is_the_heatmap_and_sums_to_the_nll(runs, tmp_path):
    loaded = runs["plain"]
    pixels, _ = picked_test_image(loaded, 0)
    path, line = actions.bits_map(loaded, pixels, "test image 0", None, tmp_path)
    assert path == tmp_path / "test-image-0-bits.png" and Image.open(path).size[0] > 300
    images = torch.round(torch.from_numpy(pixels[None]).double() * 16 / 255).long()
    with torch.no_grad():
        bits = -float(loaded.model.log_prob(images)) / math.log(2)
    assert f"**{bits:.2f} bits**" in line and f"**{bits / 64:.4f} bits/dim**" in line
    with pytest.raises(ConfigError, match=r"class-conditional: choose a class in \[0, 9\]"):
        actions.bits_map(runs["conditional"], pixels, "digit.png", None, tmp_path)
    actions.bits_map(runs["conditional"], pixels, "digit.png", 4, tmp_path)


def test_compression_gives_a_file_that_decompresses_to_the_image(runs, tmp_path):
    loaded = runs["conditional"]
    pixels, label = picked_test_image(loaded, 1)
    steps = []
    path, table = actions.compress_image(loaded, pixels, "one.png", label, tmp_path,
                                         on_progress=lambda done, total: steps.append((done, total)))
    assert path == tmp_path / "one.pxz" and steps == [(8 * row, 64) for row in range(1, 9)]  # a row of 8 at a time
    images, labels, names = decompress_bytes(loaded.model, path.read_bytes())
    assert np.array_equal(levels_to_bytes(images, 17)[0], pixels) and labels.tolist() == [label]
    assert names == ["one.png"]
    assert f"| archive (download) | {path.stat().st_size:,} bytes |" in table
    stream_bytes = 4 * len(unpack(path.read_bytes()).stream)
    assert f"| … its coded stream (the rest: header, name, checksum) | {stream_bytes:,} bytes |" in table
    assert "| PNG (Pillow, optimized) |" in table and "| model NLL, −log2 p(x) |" in table
    off_levels = pixels.copy()
    off_levels[0, 0, 0] = 7  # 7 · 16 / 255 is not a whole level
    with pytest.raises(DataError, match="not on the model's 17 levels"):
        actions.compress_image(loaded, off_levels, "odd.png", label, tmp_path)

    def stop(done, total):
        raise Cancelled

    with pytest.raises(Cancelled):
        actions.compress_image(loaded, pixels, "one.png", label, tmp_path, on_progress=stop)


def test_class_scores_of_a_conditional_model(runs):
    loaded = runs["conditional"]
    pixels, _ = picked_test_image(loaded, 0)
    posterior, table = actions.class_scores(loaded, pixels, "digit")
    assert list(posterior) == [f"class {k}" for k in range(10)] and math.isclose(sum(posterior.values()), 1.0)
    best = max(posterior, key=posterior.get)
    assert f"predicted class **{best.split()[1]}**" in table and "the training labels' frequencies" in table
    assert table.count("\n| ") == 11  # the header and one row per class
    with pytest.raises(ConfigError, match="unconditional: class scores need a class-conditional model"):
        actions.class_scores(runs["plain"], pixels, "digit")


def test_bad_uploads_are_one_line_errors_naming_the_file(runs, tmp_path):
    loaded = runs["plain"]
    (tmp_path / "notes.png").write_text("not an image")
    Image.fromarray(np.zeros((8, 8, 4), np.uint8)).save(tmp_path / "alpha.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "colour.png")
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(tmp_path / "big.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "photo.jpg")
    for name, message in (("notes.png", "notes.png is not a readable PNG image"),
                          ("alpha.png", "alpha.png has PNG mode RGBA"), ("photo.jpg", "photo.jpg is not a PNG")):
        with pytest.raises(DataError, match=message) as caught:
            read_upload(tmp_path / name)
        assert str(tmp_path) not in str(caught.value) and "\n" not in str(caught.value)
    for name, got in (("colour.png", "3×8×8"), ("big.png", "1×9×9")):
        pixels, file_name = read_upload(tmp_path / name)
        for function in (lambda p, n: actions.bits_map(loaded, p, n, None, tmp_path),
                         lambda p, n: actions.complete_image(loaded, p, n, 2, Drawing(1)),
                         lambda p, n: actions.compress_image(loaded, p, n, None, tmp_path)):
            with pytest.raises(DataError, match=f"the model expects 1×8×8 images, {name} is {got}"):
                function(pixels, file_name)


def test_pictures_are_enlarged_grids():
    images = torch.arange(16).reshape(1, 1, 4, 4) % 17
    shown = picture(images, 17)
    assert shown.dtype == np.uint8 and shown.shape == (4 * 32 + 2 * 8, 4 * 32 + 2 * 8)
    assert picture(torch.zeros(6, 3, 32, 32, dtype=torch.long), 256, columns=3).shape[2] == 3


def test_watch_streams_rows_stops_on_request_and_passes_errors():
    seen = threading.Semaphore(0)  # the work waits until each row was shown: no row is skipped

    def work(on_row, stop_after=None):
        for row in range(1, 5):
            on_row(torch.full((1, 1, 2, 2), row), row, 4)
            assert seen.acquire(timeout=10)
            if row == stop_after:
                flag.set()
        return "finished"

    def shown(events):
        for event in events:
            if isinstance(event, Row):
                seen.release()
            yield event

    flag = threading.Event()
    events = list(shown(watch(work, flag)))
    assert [event.done for event in events[:-1]] == [1, 2, 3, 4] and events[0].images.shape == (1, 1, 2, 2)
    assert isinstance(events[-1], Done) and events[-1].result == "finished"
    flag = threading.Event()
    with pytest.raises(Cancelled) as caught:
        list(shown(watch(lambda on_row: work(on_row, stop_after=2), flag)))
    assert caught.value.row.done == 2

    def broken(on_row):
        raise ConfigError("a clear line")

    with pytest.raises(ConfigError, match="a clear line"):
        list(watch(broken, threading.Event()))
    jobs = Jobs()
    first = jobs.start("tab")
    assert jobs.cancel("tab") and first.is_set() and not jobs.cancel("tab") and not jobs.cancel("other")
    second = jobs.start("tab")
    jobs.start("tab")
    assert second.is_set()  # a new job of the same tab stops its previous one


def test_command_line_without_gradio_is_one_line(runs, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # makes `import gradio` fail
    assert main(["ui", runs["plain"].name]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("pixelrnn: error: pixelrnn ui needs gradio, which is not installed: "
                           "pip install 'pixelrnn[ui]'")


def test_loopback_addresses():
    assert all(map(is_loopback, ("127.0.0.1", "127.3.2.1", "::1", "localhost")))
    assert not any(map(is_loopback, ("0.0.0.0", "192.168.1.4", "::", "example.org")))


@pytest.fixture()
def served(runs):
    """The page of both models, served on a free loopback port: (its address, the Blocks)."""
    pytest.importorskip("gradio", reason="the page needs the ui extra (pip install -e '.[ui]')")
    from pixelrnn.ui.page import build_page, launch

    blocks = build_page({run.name: run for run in runs.values()}, device="cpu")
    url = launch(blocks, "127.0.0.1", _free_port())
    yield url, blocks
    blocks.close()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.filterwarnings("ignore:.*no_silent_downcasting:DeprecationWarning", "ignore:The copy keyword")
def test_the_served_page_answers_bad_input_with_a_line_and_keeps_serving(runs, served, tmp_path, monkeypatch):
    """Through HTTP, as the browser calls it: wrong input and a bug are a status line each, then it still works."""
    from gradio_client import Client, handle_file

    client = Client(served[0], verbose=False)
    plain = runs["plain"].name
    (tmp_path / "notes.png").write_text("not an image")
    *_, status = client.predict(plain, handle_file(str(tmp_path / "notes.png")), api_name="/on_upload")
    assert status.startswith("⚠ notes.png is not a readable PNG image (") and "\n" not in status
    _, status = client.predict(plain, 0, 1.0, 0, None, api_name="/on_draw")
    assert status == "⚠ draw 1 to 64 images at a time, got 0"
    _, status = client.predict(plain, None, api_name="/on_bits")
    assert status == "⚠ upload a PNG or pick a test image first"

    def bug(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(actions, "bits_map", bug)
    *_, status = client.predict(plain, 3, api_name="/on_pick")
    assert status == "**test image 3**: 1×8×8"
    _, status = client.predict(plain, None, api_name="/on_bits")
    assert status == "⚠ unexpected error (RuntimeError: boom): see the server log"
    job = client.submit(plain, 4, 1.0, 2, None, api_name="/on_draw")  # it still serves
    _, status = job.result(timeout=120)
    assert status.startswith("4 samples (seed 2, temperature 1) in ") and status.endswith(" s")
    pictures = [picture for picture, _ in job.outputs() if isinstance(picture, str)]  # a picture is sent once
    assert Image.open(pictures[-1]).size == (2 * 128 + 3 * 4, 2 * 128 + 3 * 4)  # 2×2 digits, 16× each, 4 apart


@pytest.mark.filterwarnings("ignore:.*no_silent_downcasting:DeprecationWarning", "ignore:The copy keyword")
def test_cancel_stops_a_drawing_at_its_next_row_and_switching_models_changes_the_card(runs, served, monkeypatch):
    import time

    from gradio_client import Client

    def slow(loaded, drawing, device, on_row):
        for row in range(1, 201):
            time.sleep(0.05)
            on_row(torch.zeros(1, 1, 8, 8, dtype=torch.long), row, 200)
        return torch.zeros(1, 1, 8, 8, dtype=torch.long)

    monkeypatch.setattr(actions, "draw_samples", slow)
    client = Client(served[0], verbose=False)
    job = client.submit(runs["plain"].name, 1, 1.0, 0, None, api_name="/on_draw")
    time.sleep(2.0)
    client.predict(api_name="/cancel")  # the same client: the same browser session
    _, status = job.result(timeout=60)
    done = re.fullmatch(r"cancelled after row (\d+) of 200", status)
    assert done and 1 <= int(done.group(1)) < 200, status
    card, *_ = client.predict(runs["conditional"].name, api_name="/on_switch")
    assert "10 classes (class-conditional)" in card
