"""The contract every family of the registry keeps: a tiny variant, a fast sampler, and a save/load round trip
(checkpoint and exported folder) that gives bit-identical log-likelihoods."""

from __future__ import annotations

import pytest
import torch
from families import VARIANTS, build, variant_id

from pixelrnn.checkpoint import load_model, make_checkpoint, save_checkpoint
from pixelrnn.config import to_dict
from pixelrnn.export import export_model, from_pretrained
from pixelrnn.models import MODELS
from pixelrnn.sampling.fast import has_fast_sampler


def test_every_family_has_tiny_variants_and_a_fast_sampler():
    assert {name for name, _ in VARIANTS} == set(MODELS)
    assert all(has_fast_sampler(build(name, fields)) for name, fields in VARIANTS)


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
@pytest.mark.parametrize("channels", [1, 3])
def test_save_and_load_give_the_same_log_likelihood(variant, channels, tmp_path):
    name, fields = variant
    levels = 256 if name == "pixelcnn_pp" else 4
    model = build(name, fields, channels, levels).eval()
    with torch.no_grad():
        for parameter in model.parameters():  # away from the initialisation (zero initial states, zero biases)
            parameter.add_(0.1 * torch.randn_like(parameter))
    data_info = {"name": "tiny", "num_levels": levels, "num_classes": 0,
                 "image_shape": list(model.config.image_shape), "config": None}
    path = save_checkpoint(make_checkpoint(model, data_info, train_config=None), tmp_path / "model.pt")
    images = torch.randint(0, levels, (3, *model.config.image_shape), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model.log_prob(images)
        assert torch.equal(load_model(path).log_prob(images), expected)
        export_model(path, tmp_path / "exported")
        assert torch.equal(from_pretrained(tmp_path / "exported").log_prob(images), expected)
    assert to_dict(load_model(path).config) == to_dict(model.config)
