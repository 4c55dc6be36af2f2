"""Mixed precision and torch.compile change speed, not likelihoods (beyond the stated tolerances)."""

from __future__ import annotations

import pytest
import torch

from pixelrnn.checkpoint import load_checkpoint, load_model
from pixelrnn.config import DataConfig, TrainConfig
from pixelrnn.data import load_dataset
from pixelrnn.errors import ConfigError
from pixelrnn.models import build_model, model_config
from pixelrnn.runtime import autocast
from pixelrnn.train import train

BF16_TOLERANCE_BITS_PER_DIM = 0.01  # |bits/dim under bf16 autocast − float32|, per batch, at 256 levels
SMALL = {"hidden_channels": 8, "num_layers": 2, "output_channels": 16}
FAMILIES = [("pixelcnn", {}), ("pixelrnn", {"recurrent_layer": "row_lstm"}),
            ("pixelrnn", {"recurrent_layer": "diagonal_bilstm"}), ("multiscale_pixelrnn", {}),
            ("gated_pixelcnn", {}), ("pixelcnn_pp", {"num_layers": 1})]


@pytest.mark.parametrize("name,fields", FAMILIES)
def test_bf16_autocast_stays_within_the_stated_tolerance(name, fields):
    torch.manual_seed(0)
    model = build_model(model_config(name, (3, 8, 8), 256, **{**SMALL, **fields})).eval()
    images = torch.randint(0, 256, (8, 3, 8, 8), generator=torch.Generator().manual_seed(1))
    dims_ln2 = 3 * 8 * 8 * torch.log(torch.tensor(2.0)).item()
    with torch.no_grad():
        exact = -model.log_prob(images).mean().item() / dims_ln2
        with autocast(torch.device("cpu"), "bf16"):
            params = model(images)
        assert params.dtype == torch.bfloat16  # really ran in bf16
        mixed = -model.head.log_prob(params, images).mean().item() / dims_ln2
    assert abs(mixed - exact) < BF16_TOLERANCE_BITS_PER_DIM, (mixed, exact)


def test_bf16_training_reports_exact_float32_likelihoods(tmp_path):
    data = DataConfig(name="digits", max_train_images=64, max_test_images=32)
    config = TrainConfig(epochs=2, batch_size=16, precision="bf16", sample_every=0, device="cpu", lr=3e-3)
    result = train(tmp_path, data=data, model="pixelcnn-small", config=config)
    model = load_model(tmp_path / "last.pt")
    assert next(model.parameters()).dtype == torch.float32  # weights stay float32
    with torch.no_grad():
        nats = -model.log_prob(load_dataset(data).test.images).double().mean().item()
    assert nats == pytest.approx(result.test.nats_per_image, rel=1e-6)  # the test line is the float32 number


def test_compiled_training_saves_a_plain_checkpoint(tmp_path):
    data = DataConfig(name="digits", max_train_images=32, max_test_images=16)
    config = TrainConfig(epochs=1, batch_size=16, compile=True, sample_every=0, device="cpu")
    result = train(tmp_path, data=data, model="pixelcnn-tiny", config=config)
    state = load_checkpoint(tmp_path / "last.pt")["model"]
    assert not any(key.startswith(("_orig_mod.", "module.")) for key in state)
    model = load_model(tmp_path / "last.pt")
    compiled = torch.compile(model)
    images = load_dataset(data).test.images
    with torch.no_grad():
        eager_nats, compiled_params = -model.log_prob(images), compiled(images)
        compiled_nats = -model.head.log_prob(compiled_params, images)
    assert torch.allclose(eager_nats, compiled_nats, rtol=1e-5)
    assert eager_nats.double().mean().item() == pytest.approx(result.test.nats_per_image, rel=1e-6)


def test_unknown_precision_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown precision 'fp8'"):
        TrainConfig(precision="fp8").validate()


@pytest.mark.parametrize("name,fields", FAMILIES)
def test_channels_last_changes_the_memory_order_not_the_likelihood(name, fields):
    torch.manual_seed(0)
    model = build_model(model_config(name, (3, 8, 8), 256, **{**SMALL, **fields})).eval()
    images = torch.randint(0, 256, (8, 3, 8, 8), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        exact = -model.log_prob(images)
        model.to(memory_format=torch.channels_last)
        convolution = next(p for p in model.parameters() if p.dim() == 4 and p.shape[-1] > 1)
        assert convolution.is_contiguous(memory_format=torch.channels_last)  # really converted
        reordered = -model.log_prob(images)
    assert torch.allclose(exact, reordered, rtol=1e-5), (exact, reordered)


def test_channels_last_training_checkpoint_loads_and_resumes(tmp_path):
    data = DataConfig(name="digits", max_train_images=32, max_test_images=16)
    config = TrainConfig(epochs=1, batch_size=16, channels_last=True, sample_every=0, device="cpu")
    result = train(tmp_path, data=data, model="pixelcnn-tiny", config=config)
    model = load_model(tmp_path / "last.pt")
    with torch.no_grad():
        nats = -model.log_prob(load_dataset(data).test.images).double().mean().item()
    assert nats == pytest.approx(result.test.nats_per_image, rel=1e-5)
    resumed = train(tmp_path, resume=True, train_overrides={"epochs": 2})
    assert load_checkpoint(tmp_path / "last.pt")["train_config"]["channels_last"] is True
    assert resumed.test is not None


def test_compile_of_a_recurrent_model_compiles_its_cell_not_the_unrolled_loop():
    """--compile on a PixelRNN: the same model object, whose stepped layers call the compiled cell; likelihoods
    and gradients as eager."""
    config = model_config("pixelrnn", (1, 5, 4), 2, recurrent_layer="diagonal_bilstm", hidden_channels=4,
                          num_layers=2, learned_initial_state=True)
    torch.manual_seed(0)
    model, eager = build_model(config), build_model(config)
    eager.load_state_dict(model.state_dict())
    network = model.compiled(model)
    assert network is model and all(layer.recurrent.compiled for layer in model.layers)
    assert not any(layer.recurrent.compiled for layer in eager.layers)
    images = torch.randint(0, 2, (3, 1, 5, 4))
    nats, eager_nats = -network.log_prob(images), -eager.log_prob(images)
    assert torch.allclose(nats, eager_nats, rtol=1e-5)
    grads = torch.autograd.grad(nats.sum(), list(model.parameters()))
    eager_grads = torch.autograd.grad(eager_nats.sum(), list(eager.parameters()))
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(grads, eager_grads, strict=True))


def test_compile_of_a_model_without_loops_compiles_the_whole_network():
    model = build_model(model_config("pixelcnn-tiny", (1, 4, 4), 2))
    assert model.compiled(model) is not model  # a torch.compile wrapper around the whole network


def test_compiled_cell_serves_every_step_without_reaching_the_recompile_limit(monkeypatch):
    """A compiled Diagonal BiLSTM in float32 and under bf16 autocast, at two sizes, meets more variants of its
    cell step than dynamo's default limit of 8; every one is compiled (past the limit dynamo would run the
    steps eager). The "eager" backend stands in for inductor: the guards, hence the variants, are dynamo's."""
    from torch._dynamo.utils import counters

    from pixelrnn.nn import recurrent_cell
    from pixelrnn.nn.diagonal_bilstm import DiagonalBiLSTM

    compile_function = torch.compile
    monkeypatch.setattr(torch, "compile", lambda function, **options: compile_function(
        function, **options, backend="eager"))
    recurrent_cell.compiled_cell_step.cache_clear()
    torch._dynamo.reset()
    counters.clear()
    try:
        torch.manual_seed(0)
        layer = DiagonalBiLSTM(4, 4)
        layer.compile_step()
        for shape, precision in [((2, 4, 5, 5), torch.float32), ((2, 4, 5, 5), torch.bfloat16),
                                 ((3, 4, 6, 7), torch.bfloat16)]:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == torch.bfloat16):
                layer(torch.randn(shape, requires_grad=True)).float().sum().backward()
        variants = counters["stats"]["unique_graphs"]
        assert 8 < variants < torch._dynamo.config.recompile_limit
    finally:
        recurrent_cell.compiled_cell_step.cache_clear()
        torch._dynamo.reset()
