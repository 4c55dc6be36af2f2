"""Fast incremental sampling gives exactly the plain sampler's images from the same random numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from families import PIXELCNN_PP, VARIANTS, build, image_size

from pixelrnn.cli import main
from pixelrnn.errors import ConfigError
from pixelrnn.nn.recurrent_cell import InitialState
from pixelrnn.plots import display_scale
from pixelrnn.sampling.fast import fast_sample_images, has_fast_sampler
from pixelrnn.sampling.plain import sample_images


def _sharp_model(name: str, fields: dict, shape: tuple[int, int, int], levels: int = 7, num_classes: int = 0,
                 conditioning: str = "embedding") -> torch.nn.Module:
    """A float64 model whose untrained distribution is far from uniform (weights × 2)."""
    model = build(name, fields, shape[0], levels, size=shape[1:], num_classes=num_classes,
                  conditioning=conditioning).double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(2.0)
        for module in model.modules():
            if isinstance(module, InitialState):  # learned initial states start at zero: make them matter
                for parameter in module.parameters():
                    parameter.normal_(std=0.5)
    return model


def _give_film_an_effect(model: torch.nn.Module) -> None:
    """FiLM starts as the identity: random projections give the labels a real effect."""
    for module in model.modules():
        if getattr(module, "conditioning", None) is not None and module.conditioning.kind == "film":
            for projection in module.conditioning.projections:
                torch.nn.init.normal_(projection.weight, std=0.5)


def _both(model: torch.nn.Module, count: int, seed: int, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    plain = sample_images(model, count, generator=torch.Generator().manual_seed(seed), **kwargs)
    fast = fast_sample_images(model, count, generator=torch.Generator().manual_seed(seed), **kwargs)
    return plain, fast


@pytest.mark.parametrize("name,fields", VARIANTS)
@pytest.mark.parametrize("channels", [1, 3])
def test_fast_sampler_draws_the_plain_samplers_images(name, fields, channels):
    model = _sharp_model(name, fields, (channels, *image_size(name)))
    for seed in (0, 1):
        plain, fast = _both(model, 3, seed)
        assert torch.equal(plain, fast)
    assert len(torch.unique(plain.flatten(1), dim=0)) > 1  # really random images, not a constant


@pytest.mark.parametrize("name,fields", [VARIANTS[0], VARIANTS[2], VARIANTS[4], VARIANTS[6], VARIANTS[8]])
@pytest.mark.parametrize("conditioning", ["embedding", "film"])
def test_conditional_models_and_completion(name, fields, conditioning):
    model = _sharp_model(name, fields, (3, 6, 4), num_classes=3, conditioning=conditioning)
    _give_film_an_effect(model)
    labels = torch.tensor([0, 1, 2, 1])
    plain, fast = _both(model, 4, 5, labels=labels)
    assert torch.equal(plain, fast)
    known = torch.full((4, 3, 6, 4), -1, dtype=torch.long)
    known[:, :, :2] = plain[:, :, :2]  # keep the top rows
    known[:, 0, 3, 1] = 2  # and one lone sub-pixel (R of a pixel whose G and B are drawn)
    plain, fast = _both(model, 4, 6, labels=labels, known=known)
    assert torch.equal(plain, fast) and torch.equal(fast[:, :, :2], known[:, :, :2])
    assert (fast[:, 0, 3, 1] == 2).all()


@pytest.mark.parametrize("shape,blocks", [((1, 8, 8), 1), ((3, 8, 12), 2), ((3, 4, 4), 1)])
def test_pixelcnn_pp_fast_sampler_draws_the_plain_samplers_images(shape, blocks):
    """The U-Net's three resolutions, both streams and the shortcuts, at sizes where every stage has rows."""
    model = _sharp_model("pixelcnn_pp", {**PIXELCNN_PP, "num_layers": blocks}, shape, levels=256)
    for seed in (0, 1):
        plain, fast = _both(model, 3, seed)
        assert torch.equal(plain, fast)
    assert len(torch.unique(plain.flatten(1), dim=0)) > 1


@pytest.mark.parametrize("num_classes", [0, 3])
def test_pixelcnn_pp_fast_sampler_with_weight_norm(num_classes):
    """The stepper reads each layer's ``weight``: with weight normalisation, the effective g · v / ‖v‖."""
    model = _sharp_model("pixelcnn_pp", {**PIXELCNN_PP, "num_layers": 2, "weight_norm": True}, (3, 8, 8),
                         levels=256, num_classes=num_classes)
    labels = torch.tensor([0, 1, 2]) if num_classes else None
    model.initialize_from_data(torch.randint(0, 256, (6, 3, 8, 8)), None if labels is None else labels.repeat(2))
    for seed in (0, 1):
        plain, fast = _both(model, 3, seed, labels=labels)
        assert torch.equal(plain, fast)
    assert len(torch.unique(plain.flatten(1), dim=0)) > 1


@pytest.mark.parametrize("conditioning", ["embedding", "film"])
def test_pixelcnn_pp_conditional_and_completion(conditioning):
    model = _sharp_model("pixelcnn_pp", PIXELCNN_PP, (3, 8, 8), levels=16, num_classes=3, conditioning=conditioning)
    _give_film_an_effect(model)
    labels = torch.tensor([0, 1, 2, 1])
    plain, fast = _both(model, 4, 5, labels=labels)
    assert torch.equal(plain, fast)
    known = torch.full((4, 3, 8, 8), -1, dtype=torch.long)
    known[:, :, :3] = plain[:, :, :3]  # keep the top rows
    known[:, :, 5, 2] = 7  # and one lone whole pixel
    plain, fast = _both(model, 4, 6, labels=labels, known=known)
    assert torch.equal(plain, fast) and torch.equal(fast[:, :, :3], known[:, :, :3])
    assert (fast[:, :, 5, 2] == 7).all()
    known[:, 0, 6, 6] = 1  # one channel of a pixel: a joint head cannot keep it alone
    with pytest.raises(ConfigError, match="whole pixels"):
        fast_sample_images(model, 4, labels=labels, known=known)


def test_every_registered_model_has_a_fast_sampler():
    from pixelrnn.models import MODELS, build_model, model_config

    for name in MODELS:
        model = build_model(model_config(name, (1, 8, 8), 4, hidden_channels=4, num_layers=1))
        assert has_fast_sampler(model), name


def test_a_model_without_a_stepper_is_told_to_use_the_plain_sampler():
    class Unstepped(torch.nn.Module):  # a family defined elsewhere that declares no stepper
        pass

    with pytest.raises(ConfigError, match="^Unstepped has no fast sampler") as error:
        fast_sample_images(Unstepped(), 1)
    assert "--sampler plain" in str(error.value) and "yet" not in str(error.value)


def test_sample_command_takes_the_sampler(tmp_path):
    from pixelrnn.config import DataConfig, TrainConfig
    from pixelrnn.train import train

    data = DataConfig(name="digits", max_train_images=32, max_test_images=16)
    train(tmp_path / "run", data=data, model="row-lstm-small", model_overrides={"hidden_channels": 4},
          config=TrainConfig(epochs=1, batch_size=16, sample_every=1, num_samples=4, device="cpu"))
    assert (tmp_path / "run/samples/epoch_001.png").is_file()  # the trainer's grids use the fast sampler
    for sampler in ("plain", "fast", "auto"):
        out = tmp_path / f"{sampler}.png"
        assert main(["sample", str(tmp_path / "run"), "-n", "3", "--sampler", sampler, "--out", str(out),
                     "--device", "cpu"]) == 0
        assert np.load(out.with_suffix(".npz"))["images"].shape == (3, 1, 8, 8)
    pixelcnn_pp_run = tmp_path / "pixelcnn_pp"
    train(pixelcnn_pp_run, data=data, model="pixelcnn-pp-small", model_overrides={"hidden_channels": 4},
          config=TrainConfig(epochs=1, sample_every=0, device="cpu"))
    for sampler in ("plain", "fast"):
        assert main(["sample", str(pixelcnn_pp_run), "-n", "2", "--sampler", sampler, "--seed", "3",
                     "--out", str(tmp_path / f"pp_{sampler}.png")]) == 0
    assert np.array_equal(np.load(tmp_path / "pp_plain.npz")["images"], np.load(tmp_path / "pp_fast.npz")["images"])


def test_complete_keeps_the_top_rows_and_draws_the_rest(tmp_path, capsys):
    from PIL import Image

    from pixelrnn.config import DataConfig, TrainConfig
    from pixelrnn.train import train

    data = DataConfig(name="digits", max_train_images=32, max_test_images=16)
    train(tmp_path / "run", data=data, model="diagonal-bilstm-small", model_overrides={"hidden_channels": 4},
          config=TrainConfig(epochs=1, batch_size=16, sample_every=0, device="cpu"))
    out = tmp_path / "completions.png"
    argv = ["complete", str(tmp_path / "run"), "--test-index", "3", "--keep-rows", "4", "-n", "5", "--out", str(out),
            "--device", "cpu"]
    assert main(argv) == 0
    grid = np.load(out.with_suffix(".npz"))["images"]  # original, occluded, 5 completions
    assert grid.shape == (7, 1, 8, 8)
    assert (grid[2:, :, :4] == grid[0, :, :4]).all()  # the kept rows
    assert (grid[1, :, 4:] == 8).all()  # occluded: mid-grey of 17 levels
    assert len({completion.tobytes() for completion in grid[2:]}) > 1  # different completions
    strip = np.asarray(Image.open(out))
    cell = 8 * display_scale(8, 8)
    assert strip.shape[0] > cell + 12 and strip[:strip.shape[0] - cell - 6].min() < 128  # captions above the strip
    png = tmp_path / "digit.png"
    Image.fromarray((grid[0, 0].astype(np.float64) * 255 / 16).round().astype(np.uint8)).save(png)
    assert main(["complete", str(tmp_path / "run"), "--image", str(png), "--keep-pixels", "20", "-n", "2",
                 "--out", str(out), "--device", "cpu"]) == 0
    from_png = np.load(out.with_suffix(".npz"))["images"]
    assert (from_png[0] == grid[0]).all() and (from_png[2:].reshape(2, -1)[:, :20] == grid[0].reshape(-1)[:20]).all()
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(tmp_path / "big.png")
    for bad, expected in ((["--test-index", "0", "--keep-rows", "8"], "keep [0, 7] rows"),
                          (["--image", str(tmp_path / "big.png"), "--keep-rows", "2"], "expects 1×8×8 images")):
        assert main(["complete", str(tmp_path / "run"), *bad, "--out", str(out)]) == 2
        assert expected in capsys.readouterr().err


class _Stop(Exception):
    pass


@pytest.mark.parametrize("name,fields", [VARIANTS[0], VARIANTS[4], VARIANTS[6], VARIANTS[-1]])
def test_on_row_reports_every_row_and_an_exception_stops_the_sampler(name, fields):
    """Both samplers call on_row(images so far, done, total) after every row (the Multi-Scale PixelRNN: its small
    image's rows first), the last call sees the result, and draw() reports over its batches."""
    from pixelrnn.sampling import draw

    height, width = image_size(name)
    model = _sharp_model(name, fields, (1, height, width))
    for sampler in (sample_images, fast_sample_images):
        calls: list = []
        images = sampler(model, 2, generator=torch.Generator().manual_seed(0),
                         on_row=lambda partial, done, total, calls=calls: calls.append((partial.clone(), done, total)))
        total = calls[-1][2]
        assert [done for _, done, _ in calls] == list(range(1, total + 1))
        small_rows = -(-height // model.config.subsample_factor) if name == "multiscale_pixelrnn" else 0
        assert total == height + (small_rows if sampler is fast_sample_images else 0)
        assert torch.equal(calls[-1][0], images) and calls[0][0].shape == images.shape
    progress = []
    batched = draw(model, 3, seed=1, batch_size=2, on_row=lambda partial, done, total: progress.append(
        (len(partial), done, total)))
    assert torch.equal(batched, draw(model, 3, seed=1, batch_size=2))
    assert progress[-1] == (3, progress[-1][2], progress[-1][2]) and progress[0][0] == 2

    def stop_at_two(partial, done, total):
        if done == 2:
            raise _Stop

    with pytest.raises(_Stop):
        draw(model, 2, on_row=stop_at_two)
