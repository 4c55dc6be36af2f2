"""Lossless compression: bit-exact round trips for every family, sizes at the exact NLL, and refused bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pixelrnn.archive import ArchiveError, pack, unpack
from pixelrnn.cli import main
from pixelrnn.compress import bytes_to_levels, compress_images, decompress_bytes, levels_to_bytes
from pixelrnn.entropy_coding import TOTAL, quantize
from pixelrnn.errors import DataError
from pixelrnn.heads.categorical import Bernoulli, Categorical
from pixelrnn.heads.logistic_mixture import DiscretizedLogisticMixture
from pixelrnn.models import build_model, model_config
from pixelrnn.sampling import draw

SMALL = {"hidden_channels": 6, "num_layers": 2, "output_channels": 6}
FAMILIES = [
    ("pixelrnn", {"recurrent_layer": "row_lstm"}),
    ("pixelrnn", {"recurrent_layer": "diagonal_bilstm"}),
    ("multiscale_pixelrnn", {"recurrent_layer": "row_lstm"}),
    ("pixelcnn", {}),
    ("gated_pixelcnn", {}),
    ("pixelcnn_pp", {"num_mixtures": 2, "dropout": 0.0, "num_layers": 1}),
]


def _model(name: str, fields: dict, channels: int, levels: int = 5, num_classes: int = 0, seed: int = 0,
           sharpen: float = 2.0) -> torch.nn.Module:
    """A tiny float32 model, its weights scaled so that its distribution is far from uniform."""
    torch.manual_seed(seed)
    levels = 256 if name == "pixelcnn_pp" else levels
    model = build_model(model_config(name, (channels, 4, 4), levels, num_classes=num_classes, **{**SMALL, **fields}))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(sharpen)
    return model.eval()


@pytest.mark.parametrize("name,fields", FAMILIES)
@pytest.mark.parametrize("channels", [1, 3])
def test_round_trip_is_bit_exact_for_every_family(name, fields, channels):
    model = _model(name, fields, channels)
    images = draw(model, 3, seed=1)
    images[0] = 0  # an unlikely image codes too
    result = compress_images(model, images, batch_size=2)  # a full batch and a partial one
    decoded, labels, names = decompress_bytes(model, result.data)
    assert torch.equal(decoded, images) and labels is None and names == []
    assert np.allclose(result.ideal_bits, result.nll_bits, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("name,fields", [FAMILIES[0], FAMILIES[3], FAMILIES[5]])
def test_conditional_model_keeps_the_labels(name, fields):
    model = _model(name, fields, 3, num_classes=3)
    labels = torch.tensor([2, 0, 1, 2])
    images = draw(model, 4, seed=2, labels=labels)
    result = compress_images(model, images, labels, batch_size=3)
    decoded, decoded_labels, _ = decompress_bytes(model, result.data)
    assert torch.equal(decoded, images) and torch.equal(decoded_labels, labels)


def test_coded_size_is_the_exact_nll():
    model = _model("pixelcnn", {}, 1, levels=17, sharpen=4.0)
    images = draw(model, 64, seed=3)
    result = compress_images(model, images, batch_size=64)
    nll = result.nll_bits.sum()
    assert result.nll_bits_per_dim < 2  # a sharp model: far below log2(17) = 4.09
    assert abs(result.ideal_bits.sum() - nll) < 1e-4 * nll
    stream_bits = 32 * len(unpack(result.data).stream)  # the range coder's uint32 words
    assert abs(stream_bits - nll) <= 0.005 * nll + 64


def test_quantize_gives_every_level_a_count_and_sums_exactly():
    log_probs = torch.log_softmax(torch.randn(50, 256, dtype=torch.float64) * 8, dim=1)
    log_probs[0] = torch.tensor([0.0] + [-float("inf")] * 255)  # a certain level
    counts = quantize(log_probs)
    assert (counts >= 1).all() and (counts.sum(axis=1) == TOTAL).all()
    assert np.array_equal(counts, quantize(log_probs.clone()))
    assert counts[0, 0] == TOTAL - 255


@pytest.mark.parametrize("head,params_per_pixel,channels", [
    (Categorical(6), 18, 3), (Bernoulli(), 1, 1), (DiscretizedLogisticMixture(3, 3, 16), 30, 3),
    (DiscretizedLogisticMixture(2, 1, 16), 6, 1)])
def test_level_tables_are_normalised_and_agree_with_the_per_subpixel_terms(head, params_per_pixel, channels):
    torch.manual_seed(0)
    params = torch.randn(2, params_per_pixel, 3, 4, dtype=torch.float64) * 3
    x = torch.randint(0, head.num_levels, (2, channels, 3, 4))
    terms = head.log_prob_per_subpixel(params, x)  # (B, C, H, W)
    assert torch.allclose(terms.sum(dim=(1, 2, 3)), head.log_prob(params, x), rtol=1e-12, atol=1e-12)
    for channel in range(channels):
        table = head.level_log_probs(params, x, channel)  # (B, L, H, W)
        assert torch.allclose(table.logsumexp(dim=1), torch.zeros(()).double(), atol=1e-12)
        assert torch.allclose(table.gather(1, x[:, channel:channel + 1]).squeeze(1), terms[:, channel], atol=1e-12)
        later = x.clone()
        later[:, channel:] = torch.randint(0, head.num_levels, later[:, channel:].shape)
        assert torch.equal(head.level_log_probs(params, later, channel), table)  # reads only earlier channels


def test_bad_archives_are_refused():
    model = _model("pixelcnn", {}, 1)
    images = draw(model, 3, seed=4)
    data = compress_images(model, images).data
    with pytest.raises(ArchiveError, match="another model"):
        decompress_bytes(_model("pixelcnn", {}, 1, seed=1), data)
    with pytest.raises(ArchiveError, match="the model codes"):
        decompress_bytes(_model("pixelcnn", {}, 3), data)
    with pytest.raises(ArchiveError, match="truncated or corrupt"):
        decompress_bytes(model, data[:-5])
    corrupt = bytearray(data)
    corrupt[len(data) // 2 + 30] ^= 0x10
    with pytest.raises(ArchiveError, match="truncated or corrupt"):
        decompress_bytes(model, bytes(corrupt))
    with pytest.raises(ArchiveError, match="not a pixelrnn"):
        decompress_bytes(model, b"\x89PNG\r\n")
    archive = unpack(data)  # a decoder whose arithmetic differs: the images' checksum catches it
    tampered = pack(type(archive)(**{**archive.__dict__, "image_crc": archive.image_crc ^ 1}))
    with pytest.raises(ArchiveError, match="checksum"):
        decompress_bytes(model, tampered)


def test_levels_off_the_model_grid_are_refused():
    levels = torch.arange(17).reshape(1, 1, 1, 17)
    assert torch.equal(bytes_to_levels(levels_to_bytes(levels, 17), 17), levels)
    with pytest.raises(DataError, match="not on the model's 17 levels"):
        bytes_to_levels(np.array([[[[7]]]], dtype=np.uint8), 17)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    from pixelrnn.config import DataConfig, TrainConfig
    from pixelrnn.train import train

    run = tmp_path_factory.mktemp("compress") / "run"
    data = DataConfig(name="digits", max_train_images=32, max_test_images=8)
    train(run, data=data, model="pixelcnn-small", model_overrides={"hidden_channels": 4, "num_layers": 1},
          config=TrainConfig(epochs=1, batch_size=16, sample_every=0, device="cpu"))
    return run


def test_compress_and_decompress_commands(digits_run, tmp_path, capsys):
    archive, npz, pngs = tmp_path / "test.pxz", tmp_path / "test.npz", tmp_path / "pngs"
    assert main(["compress", str(digits_run), "--split", "test", "--max-images", "5", "--out", str(archive),
                 "--batch-size", "2"]) == 0
    assert "bits/dim" in capsys.readouterr().out
    assert main(["decompress", str(digits_run), str(archive), "--out", str(npz)]) == 0
    assert main(["decompress", str(digits_run), str(archive), "--out", str(pngs)]) == 0
    from pixelrnn.data import load_dataset
    from pixelrnn.data.formats import read_pngs
    from pixelrnn.evaluate import stored_data_config

    test = load_dataset(stored_data_config(torch.load(digits_run / "last.pt", weights_only=True))).test
    assert np.array_equal(np.load(npz)["images"], test.images[:5].numpy())
    files = sorted(pngs.glob("*.png"))
    assert np.array_equal(read_pngs(files), levels_to_bytes(test.images[:5].long(), 17))
    again, out = tmp_path / "again.pxz", tmp_path / "again"
    assert main(["compress", str(digits_run), str(pngs), "--out", str(again), "--per-image"]) == 0
    assert main(["decompress", str(digits_run), str(again), "--out", str(out)]) == 0
    assert [path.name for path in sorted(out.iterdir())] == [path.name for path in files]
    assert all((a.read_bytes() == b.read_bytes()) for a, b in zip(files, sorted(out.iterdir()), strict=True))


def test_commands_refuse_bad_input_in_one_line(digits_run, tmp_path, capsys):
    archive = tmp_path / "a.pxz"
    assert main(["compress", str(digits_run), "--split", "test", "--max-images", "2", "--out", str(archive)]) == 0
    archive.write_bytes(archive.read_bytes()[:-3])
    capsys.readouterr()
    assert main(["decompress", str(digits_run), str(archive), "--out", str(tmp_path / "x")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "truncated or corrupt" in error
    Image.fromarray(np.full((8, 9), 255, dtype=np.uint8)).save(tmp_path / "wide.png")
    assert main(["compress", str(digits_run), str(tmp_path / "wide.png"), "--out", str(archive)]) == 2
    assert "8×8" in capsys.readouterr().err
    Image.fromarray(np.full((8, 8), 7, dtype=np.uint8)).save(tmp_path / "off.png")
    assert main(["compress", str(digits_run), str(tmp_path / "off.png"), "--out", str(archive)]) == 2
    assert "not on the model's 17 levels" in capsys.readouterr().err
