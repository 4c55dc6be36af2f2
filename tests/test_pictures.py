"""Pictures worth looking at (#17): grids enlarged to a readable size and labelled where their layout means
something, a loss curve that names its run, and compare curves that show something for 1-epoch runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pixelrnn import plots
from pixelrnn.experiments.compare_figures import plot_curves
from pixelrnn.plots import MIN_CELL_PIXELS, display_scale, save_image_grid, save_loss_curves


@pytest.mark.parametrize(("size", "scale"), [((28, 28), 4), ((8, 8), 12), ((32, 32), 3), ((28, 8), 4),
                                             ((200, 120), 1)])
def test_small_images_are_enlarged_to_a_readable_size(size, scale):
    assert display_scale(*size) == scale
    assert max(size) * scale >= MIN_CELL_PIXELS or scale == 1


def _grey_grid(tmp_path, **labels) -> np.ndarray:
    images = torch.full((4, 1, 8, 8), 16)  # white images: only the labels' ink is dark outside the cells' gaps
    path = save_image_grid(images, 17, tmp_path / "grid.png", columns=2, **labels)
    return np.asarray(Image.open(path))


def test_a_grid_of_mnist_digits_is_nearest_neighbour_enlarged(tmp_path):
    images = torch.randint(0, 256, (16, 1, 28, 28), generator=torch.Generator().manual_seed(0))
    grid = np.asarray(Image.open(save_image_grid(images, 256, tmp_path / "grid.png")))
    assert grid.shape[0] >= 4 * MIN_CELL_PIXELS and grid.shape == grid.shape[:1] * 2
    padding = 1 if display_scale(28, 28) == 1 else max(2, display_scale(28, 28) // 4)
    first = grid[padding:padding + 28 * 4, padding:padding + 28 * 4]  # the first image, each pixel a 4×4 block
    assert np.array_equal(first, images[0, 0].numpy().astype(np.uint8).repeat(4, 0).repeat(4, 1))


def test_row_and_column_labels_are_drawn_in_margins(tmp_path):
    plain = _grey_grid(tmp_path)
    assert plain.min() == 255  # no ink without labels
    by_row = _grey_grid(tmp_path, row_labels=["class 0", "class 1"])
    margin = by_row.shape[1] - plain.shape[1]
    assert by_row.shape[0] == plain.shape[0] and margin > 20
    assert by_row[:, :margin].min() < 128 and np.array_equal(by_row[:, margin:], plain)
    ink_rows = np.flatnonzero((by_row[:, :margin] < 128).any(axis=1))
    assert ink_rows.min() < plain.shape[0] // 2 < ink_rows.max()  # a label beside each of the two rows
    by_column = _grey_grid(tmp_path, column_labels=["original", "occluded"])
    top = by_column.shape[0] - plain.shape[0]
    assert by_column.shape[1] == plain.shape[1] and top > 8 and by_column[:top].min() < 128
    ink_columns = np.flatnonzero((by_column[:top] < 128).any(axis=0))
    assert ink_columns.min() < plain.shape[1] // 2 < ink_columns.max()


def _captured_figure(monkeypatch):
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda figure, path: figures.append(figure) or path)
    return figures


def test_loss_curve_names_its_run_and_keeps_the_uniform_level_and_a_lone_train_point_visible(tmp_path,
                                                                                              monkeypatch):
    figures = _captured_figure(monkeypatch)
    save_loss_curves([(10, 1.2)], [(7, 1.3), (14, 1.1)], tmp_path / "c.png", uniform_bits_per_dim=8.0,
                     title="run: pixelcnn on mnist")
    (axes,) = figures[0].axes
    assert axes.get_title() == "run: pixelcnn on mnist"
    low, high = axes.get_ylim()
    assert low < 1.1 and high > 8.0  # the uniform model's line lies inside the axes
    train = [line for line in axes.get_lines() if line.get_label() == "train (batch)"][0]
    assert train.get_marker() not in (None, "None", "")  # one point: a marker, not an invisible line


def test_the_trainer_titles_its_loss_curve_with_run_model_and_data(tmp_path, monkeypatch):
    from pixelrnn.config import DataConfig, TrainConfig
    from pixelrnn.train import train

    figures = _captured_figure(monkeypatch)
    train(tmp_path / "my-run", data=DataConfig(name="digits", max_train_images=32, max_test_images=8),
          model="pixelcnn", model_overrides={"hidden_channels": 4, "num_layers": 1, "output_channels": 8},
          config=TrainConfig(epochs=1, batch_size=16, sample_every=0, device="cpu"))
    assert figures[-1].axes[0].get_title() == "my-run: pixelcnn (h 4, 1 layer) on digits"


class _Run:
    """What plot_curves reads of a compared run."""

    def __init__(self, lines: list[dict]) -> None:
        self.metrics, self.binary = lines, False

    def lines(self, kind: str) -> list[dict]:
        return [line for line in self.metrics if line["kind"] == kind]

    def score(self, line: dict) -> float:
        return line["bits_per_dim"]


def _one_epoch_run(offset: float) -> _Run:
    train = [{"kind": "train", "epoch": 0, "step": step, "time": 100.0 + step, "bits_per_dim": 5 - step / 10 + offset}
             for step in range(1, 6)]
    return _Run([*train, {"kind": "valid", "epoch": 1, "step": 5, "time": 106.0, "bits_per_dim": 4.6 + offset}])


def test_compare_curves_of_one_epoch_runs_show_training_against_steps(tmp_path, monkeypatch):
    figures = _captured_figure(monkeypatch)
    plot_curves([("a", [_one_epoch_run(0.0)]), ("b", [_one_epoch_run(0.2)])], tmp_path / "curves.png")
    first, by_time = figures[0].axes
    assert first.get_xlabel() == "optimizer step" and "train (line)" in first.get_ylabel()
    lengths = sorted(len(line.get_xdata()) for line in first.get_lines())
    assert lengths == [1, 1, 5, 5]  # each run: a training line of 5 steps and its validation dot
    assert [text.get_text() for text in first.get_legend().get_texts()] == ["a", "b"]
    assert max(len(line.get_xdata()) for line in by_time.get_lines()) == 5
