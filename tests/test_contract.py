"""The contract every family of the registry keeps: a tiny variant, a fast sampler, and a save/load round trip
(checkpoint and exported folder) that gives bit-identical log-likelihoods."""

from __future__ import annotations

import pytest
import torch
from families import VARIANTS, build, image_size, variant_id

from pixelrnn.checkpoint import load_model, make_checkpoint, save_checkpoint
from pixelrnn.config import to_dict
from pixelrnn.export import export_model, from_pretrained
from pixelrnn.models import MODELS
from pixelrnn.sampling import draw
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


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_model_sample_is_the_one_sampling_entry_point(variant):
    name, fields = variant
    model = build(name, fields, levels=4).train()
    images = model.sample(3, seed=7)
    assert model.training  # its mode is given back
    assert images.dtype == torch.int64 and images.shape == (3, 1, *image_size(name))
    assert torch.equal(images, draw(model.eval(), 3, seed=7))
    generator = torch.Generator().manual_seed(7)
    first, second = model.sample(3, generator=generator), model.sample(3, generator=generator)
    assert torch.equal(first, images) and not torch.equal(first, second)  # the generator advances
    known = torch.full_like(images, -1)
    known[:, :, 0] = images[:, :, 0]
    completed = model.sample(3, known=known, seed=1)
    assert torch.equal(completed[:, :, 0], images[:, :, 0])
