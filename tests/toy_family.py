"""A model family that lives outside the library, added by one registry line — run as a script by
``test_new_family.py`` (in its own process, so that the registration does not leak into other tests).

The family is the smallest causal model there is: one mask-A convolution straight to the output head's parameters.
It declares its own ModelConfig field (``toy_kernel``), a preset and training defaults in its class, and its
stepper declares the class it steps; ``register_family("toy", ToyModel)`` is the only other line. The script
then checks that the rest of the library picks it up: the ``pixelrnn train`` flag, a training run, the
checkpoint round trip (weights-only), the fast sampler (equal to the plain one), the export's model card and
``field_users``. It exits with status 0 when every check holds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import sys
from pathlib import Path

import torch

from pixelrnn.config import ModelConfig, ModelField
from pixelrnn.errors import ConfigError
from pixelrnn.models.base import AutoregressiveImageModel
from pixelrnn.nn.masked_conv import MaskedConv2d
from pixelrnn.sampling.steppers.common import Convolutions, Stepper


def _check_odd(config: ModelConfig) -> None:
    if config.toy_kernel < 1 or config.toy_kernel % 2 == 0:
        raise ConfigError(f"toy_kernel must be odd and positive, got {config.toy_kernel}")


class ToyModel(AutoregressiveImageModel):
    """One k×k mask-A convolution C → C·P: sub-pixel (i, j, c) sees the pixels before (i, j) in a k×k window."""

    model_fields = (ModelField("toy_kernel", int, 3, "odd size of the toy's one mask-A convolution",
                               check=_check_odd),)
    training_defaults = {"optimizer": "rmsprop"}
    presets = {"toy-small": {"toy_kernel": 5}}

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        colors = config.image_channels
        self.conv = MaskedConv2d(colors, self.head.num_params(colors), config.toy_kernel, "A", colors)

    def network(self, inputs: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.conv(inputs)  # (B, C·P, H, W)


class ToyStepper(Stepper):
    """The toy's incremental evaluation: its one convolution at one position."""

    steps = ToyModel

    def __init__(self, model: ToyModel, batch: int, labels: torch.Tensor | None = None) -> None:
        self.model, self.convs = model, Convolutions()

    def params_at(self, images: torch.Tensor, row: int, col: int) -> torch.Tensor:
        inputs = self.model.preprocess(images).to(self.model.conv.weight.dtype)  # (B, C, H, W)
        return self.convs.at(self.model.conv, inputs, row, col)  # (B, C·P)


def main(folder: Path) -> None:
    from pixelrnn.checkpoint import load_checkpoint, load_model
    from pixelrnn.cli import main as cli_main
    from pixelrnn.config import from_dict, to_dict
    from pixelrnn.export import export_model, from_pretrained
    from pixelrnn.models import MODELS, PRESETS, field_users, register_family, training_defaults
    from pixelrnn.sampling import draw
    from pixelrnn.sampling.fast import has_fast_sampler

    assert "toy" not in MODELS and "toy_kernel" not in ModelConfig.__dataclass_fields__
    register_family("toy", ToyModel)  # the registry line

    with contextlib.redirect_stdout(io.StringIO()) as printed, contextlib.suppress(SystemExit):
        cli_main(["train", "--help"])
    train_help = printed.getvalue()
    assert "--toy-kernel TOY_KERNEL" in train_help and "toy: odd size of the toy's" in train_help, train_help
    assert "toy-small" in train_help and PRESETS["toy-small"] == {"name": "toy", "toy_kernel": 5}
    assert training_defaults("toy-small") == {"optimizer": "rmsprop"}
    assert field_users("toy_kernel") == ("toy",)
    try:
        from_dict(ModelConfig, {**to_dict(ModelConfig(name="toy")), "toy_kernel": 4})
        raise AssertionError("an even toy_kernel was accepted")
    except ConfigError as error:
        assert str(error) == "toy_kernel must be odd and positive, got 4"

    run = folder / "run"
    assert cli_main(["train", "--run-dir", str(run), "--model", "toy-small", "--toy-kernel", "7",
                     "--max-train-images", "32", "--max-test-images", "16", "--epochs", "1", "--batch-size", "16",
                     "--num-samples", "4", "--device", "cpu"]) == 0
    assert (run / "samples" / "epoch_001.png").is_file()
    stored = load_checkpoint(run / "last.pt")  # weights-only load of the flat config dict
    assert stored["model_config"]["toy_kernel"] == 7 and stored["model_config"]["name"] == "toy"
    assert stored["optimizer"]["param_groups"][0].get("alpha") is not None  # RMSProp, the family's default
    model = load_model(run / "last.pt").double()
    assert isinstance(model, ToyModel) and model.config.toy_kernel == 7 and has_fast_sampler(model)
    assert dataclasses.replace(model.config, toy_kernel=5).toy_kernel == 5

    fast, plain = (draw(model, 3, seed=7, sampler=sampler) for sampler in ("fast", "plain"))
    assert torch.equal(fast, plain), "the toy's fast sampler differs from the plain one"

    export_model(run / "last.pt", folder / "exported")
    card = (folder / "exported" / "README.md").read_text()
    assert "--model toy" in card and "--toy-kernel 7" in card, card
    exported = from_pretrained(folder / "exported").double()
    assert torch.equal(exported.log_prob(fast), model.log_prob(fast))
    print("the toy family works end to end")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
