"""Per-sub-pixel bits: they sum to −log2 p(x) of ``model.log_prob`` for every family, and the command draws them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from pixelrnn.checkpoint import make_checkpoint, save_checkpoint
from pixelrnn.cli import main
from pixelrnn.config import DataConfig
from pixelrnn.heatmap import subpixel_nats
from pixelrnn.models import build_model, model_config
from pixelrnn.sampling import draw

SMALL = {"hidden_channels": 6, "num_layers": 2, "output_channels": 6}
FAMILIES = [
    ("pixelrnn", {"recurrent_layer": "row_lstm"}),
    ("pixelrnn", {"recurrent_layer": "diagonal_bilstm"}),
    ("multiscale_pixelrnn", {"recurrent_layer": "row_lstm"}),
    ("pixelcnn", {}),
    ("gated_pixelcnn", {}),
    ("pixelcnn_pp", {"num_mixtures": 3, "dropout": 0.0, "num_layers": 1}),
]


def _model(name: str, fields: dict, channels: int, levels: int = 5, num_classes: int = 0) -> torch.nn.Module:
    torch.manual_seed(0)
    levels = 256 if name == "pixelcnn_pp" else levels
    config = model_config(name, (channels, 4, 4), levels, num_classes=num_classes, **{**SMALL, **fields})
    model = build_model(config).double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(2.0)
    return model.eval()


@pytest.mark.parametrize("name,fields", FAMILIES)
@pytest.mark.parametrize("channels", [1, 3])
def test_subpixel_bits_sum_to_the_log_likelihood(name, fields, channels):
    model = _model(name, fields, channels)
    images = draw(model, 3, seed=1)
    nats = subpixel_nats(model, images)
    assert nats.shape == images.shape and nats.dtype == torch.float64 and (nats >= 0).all()
    with torch.no_grad():
        exact = -model.log_prob(images)  # (N,) float64 nats
    assert torch.allclose(nats.sum(dim=(1, 2, 3)), exact, rtol=1e-12, atol=1e-10)


def test_conditional_and_float32_models():
    model = _model("pixelcnn", {}, 3, num_classes=2).float()
    labels = torch.tensor([1, 0])
    images = draw(model, 2, seed=2, labels=labels)
    with torch.no_grad():
        exact = -model.log_prob(images, labels).double()
    assert torch.allclose(subpixel_nats(model, images, labels).sum(dim=(1, 2, 3)), exact, rtol=1e-5)


def test_heatmap_command(tmp_path, capsys):
    model = _model("pixelcnn_pp", FAMILIES[-1][1], 3).float()
    path = save_checkpoint(make_checkpoint(model, {"name": "pngs"}), tmp_path / "rgb.pt")
    image = draw(model, 1, seed=3)[0].permute(1, 2, 0).numpy().astype(np.uint8)  # (H, W, 3), 256 levels
    Image.fromarray(image).save(tmp_path / "x.png")
    out = tmp_path / "heat.png"
    assert main(["heatmap", str(path), "--image", str(tmp_path / "x.png"), "--out", str(out)]) == 0
    assert "bits/dim" in capsys.readouterr().out and Image.open(out).size[0] > 4 * 64

    digits = dataclasses.replace(model.config, name="pixelcnn", image_channels=1, image_height=8, image_width=8,
                                 num_levels=17, num_mixtures=1)
    checkpoint = make_checkpoint(build_model(digits), {"name": "digits", "config": dataclasses.asdict(
        DataConfig(name="digits"))})
    path = save_checkpoint(checkpoint, tmp_path / "digits.pt")
    assert main(["heatmap", str(path), "--test-index", "0", "5", "--out", str(out)]) == 0
    assert capsys.readouterr().out.count("test image") == 2
    assert main(["heatmap", str(path), "--test-index", "100000", "--out", str(out)]) == 2
    assert "--test-index must be in" in capsys.readouterr().err
