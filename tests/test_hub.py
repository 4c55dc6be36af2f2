"""``save_pretrained`` / ``from_pretrained`` / ``push_to_hub`` (huggingface_hub's ModelHubMixin) on every family:
the folder of ``pixelrnn export``, bit-identical log-likelihoods, and no network in any test (the Hub is mocked)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
import torch
from families import VARIANTS, build, variant_id
from huggingface_hub import HfApi
from huggingface_hub.utils import HFValidationError, LocalEntryNotFoundError, RepositoryNotFoundError
from safetensors import safe_open
from safetensors.torch import load as load_safetensors

from pixelrnn import pretrained
from pixelrnn.checkpoint import load_model, make_checkpoint, save_checkpoint
from pixelrnn.cli import main
from pixelrnn.config import ModelConfig, to_dict
from pixelrnn.errors import CheckpointError, ConfigError
from pixelrnn.export import export_model
from pixelrnn.models import MODELS, AutoregressiveImageModel, GatedPixelCNN, PixelCNN

FILES = {"config.json", "model.safetensors", "README.md"}
OFFLINE = ("An error happened while trying to locate the file on the Hub and we cannot find the requested files in "
           "the local cache. Please check your connection and try again or make sure your Internet connection is on.")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every download fails the test unless a test serves the files itself."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"a test tried to download from the Hub: {args} {kwargs}")

    monkeypatch.setattr("huggingface_hub.hub_mixin.hf_hub_download", refuse)
    monkeypatch.setattr("pixelrnn.hub.hf_hub_download", refuse)


def serve(monkeypatch, download) -> None:
    """Answer the mixin's and pixelrnn's downloads with ``download(repo_id=..., filename=..., **options)``."""
    monkeypatch.setattr("huggingface_hub.hub_mixin.hf_hub_download", download)
    monkeypatch.setattr("pixelrnn.hub.hf_hub_download", download)


def tiny(name: str, fields: dict, channels: int = 3, seed: int = 0) -> tuple[AutoregressiveImageModel, torch.Tensor]:
    """A variant's tiny model, its weights moved off their initialisation, and a fixed batch of its images."""
    levels = 256 if name == "pixelcnn_pp" else 4
    model = build(name, fields, channels, levels, seed=seed).eval()
    with torch.no_grad():
        for parameter in model.parameters():  # zero initial states and biases would hide misplaced weights
            parameter.add_(0.1 * torch.randn_like(parameter))
    images = torch.randint(0, levels, (3, *model.config.image_shape), generator=torch.Generator().manual_seed(0))
    return model, images


def log_prob(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.log_prob(images)


def test_every_registered_family_is_in_the_contract():
    assert {name for name, _ in VARIANTS} == set(MODELS)


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
@pytest.mark.parametrize("channels", [1, 3])
def test_save_pretrained_and_from_pretrained_give_the_same_log_likelihood(variant, channels, tmp_path):
    model, images = tiny(*variant, channels=channels)
    expected = log_prob(model, images)
    model.save_pretrained(tmp_path / "saved")
    folder = tmp_path / "saved"
    assert {path.name for path in folder.iterdir()} == FILES
    config = json.loads((folder / "config.json").read_text())
    assert config["library_name"] == "pixelrnn" and config["architecture"] == type(model).__name__
    assert config["model_config"] == to_dict(model.config)
    assert {config[key] for key in ("data", "train_config", "averaged_weights")} == {None}  # not known: not guessed
    with safe_open(folder / "model.safetensors", "pt") as weights:  # the state dict's names, nothing pickled
        assert set(weights.keys()) == set(model.state_dict())
    assert (folder / "README.md").read_text().startswith("---\nlibrary_name: pixelrnn\n")
    for loader in (AutoregressiveImageModel, type(model)):
        loaded = loader.from_pretrained(folder)
        assert type(loaded) is type(model) and not loaded.training
        assert torch.equal(log_prob(loaded, images), expected)


def test_a_family_refuses_another_familys_folder_in_one_line(tmp_path):
    model, _ = tiny("pixelcnn", {})
    model.save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="holds a PixelCNN, not a GatedPixelCNN") as error:
        GatedPixelCNN.from_pretrained(tmp_path)
    assert "\n" not in str(error.value)


def test_an_export_is_save_pretrained_with_the_checkpoints_sections_and_loads_through_the_mixin(tmp_path):
    model, images = tiny("pixelcnn", {}, channels=1)
    average, _ = tiny("pixelcnn", {}, channels=1, seed=1)  # other weights, kept as the moving average
    data_info = {"name": "tiny", "num_levels": 4, "num_classes": 0, "image_shape": [1, 6, 6], "config": None}
    path = save_checkpoint(make_checkpoint(model, data_info, train_config=None, ema=average.state_dict()),
                           tmp_path / "model.pt")
    folder = export_model(path, tmp_path / "exported")
    config = json.loads((folder / "config.json").read_text())
    assert config["data"] == data_info and config["averaged_weights"] is True
    expected = log_prob(load_model(path), images)  # the averaged weights, as the export holds
    assert torch.equal(expected, log_prob(average, images)) and not torch.equal(expected, log_prob(model, images))
    for loader in (AutoregressiveImageModel, PixelCNN):
        assert torch.equal(log_prob(loader.from_pretrained(folder), images), expected)
    AutoregressiveImageModel.from_pretrained(folder).save_pretrained(tmp_path / "again")  # keeps its sections
    for name in ("config.json", "README.md"):
        assert (tmp_path / "again" / name).read_text() == (folder / name).read_text()


@pytest.mark.skipif("pixelcnn-binarized-mnist" not in pretrained.available(), reason="the model is not shipped")
def test_a_shipped_model_loads_by_name_through_the_mixin_and_saves_again_unchanged(tmp_path):
    name = "pixelcnn-binarized-mnist"
    images = torch.randint(0, 2, (4, 1, 28, 28), generator=torch.Generator().manual_seed(0))
    expected = log_prob(load_model(name), images)
    model = PixelCNN.from_pretrained(name)
    assert torch.equal(log_prob(model, images), expected)
    assert torch.equal(log_prob(AutoregressiveImageModel.from_pretrained(name), images), expected)
    model.save_pretrained(tmp_path)
    shipped = json.loads((pretrained.available()[name].folder / "config.json").read_text())
    saved = json.loads((tmp_path / "config.json").read_text())
    # its sections kept; model_config may hold fields newer than the shipped model, at their defaults
    saved_model, shipped_model = saved.pop("model_config"), shipped.pop("model_config")
    assert {key: saved_model[key] for key in shipped_model} == shipped_model
    defaults = {field.name: field.default for field in dataclasses.fields(ModelConfig)}
    assert all(saved_model[key] == defaults[key] for key in set(saved_model) - set(shipped_model))
    assert {**saved, "pixelrnn_version": None} == {**shipped, "pixelrnn_version": None}
    card = (tmp_path / "README.md").read_text()
    assert f"value: {shipped['pretrained']['test']['nats_per_image']:.4f}\n" in card


def test_a_hub_repo_id_is_downloaded_with_the_hub_options(monkeypatch, tmp_path):
    model, images = tiny("gated_pixelcnn", {})
    model.save_pretrained(tmp_path / "remote")
    asked = []

    def download(repo_id: str, filename: str, **options) -> str:
        asked.append((repo_id, filename, options["revision"]))
        return str(tmp_path / "remote" / filename)

    serve(monkeypatch, download)
    loaded = GatedPixelCNN.from_pretrained("user/tiny-gated", revision="v1")
    assert torch.equal(log_prob(loaded, images), log_prob(model, images))
    assert {("user/tiny-gated", "config.json", "v1"), ("user/tiny-gated", "model.safetensors", "v1")} == set(asked)


def not_found() -> RepositoryNotFoundError:
    """The Hub's 404, made without an HTTP response (whose type differs between huggingface_hub versions)."""
    error = RepositoryNotFoundError.__new__(RepositoryNotFoundError)
    error.args = ("404 Client Error. Repository Not Found for url: https://huggingface.co/user/no-such-model",)
    return error


@pytest.mark.parametrize("error", [LocalEntryNotFoundError(OFFLINE), not_found(),
                                   HFValidationError("Repo id must be in the form 'repo_name' or "
                                                     "'namespace/repo_name'")],
                         ids=["offline", "not-found", "invalid-id"])
def test_a_hub_id_that_cannot_be_downloaded_is_one_checkpoint_error_line(monkeypatch, error):
    def download(**options):
        raise error

    serve(monkeypatch, download)
    with pytest.raises(CheckpointError) as raised:
        AutoregressiveImageModel.from_pretrained("user/no-such-model")
    message = str(raised.value)
    assert "\n" not in message and message.startswith("user/no-such-model is neither a saved model's folder")
    assert str(error).splitlines()[0][:60] in message


def test_the_cli_answers_a_hub_id_in_one_line_without_the_network(capsys):
    assert main(["eval", "user/no-such-model"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "user/no-such-model" in error and "Traceback" not in error


def test_local_folders_that_are_no_saved_model_are_one_line(tmp_path):
    model, _ = tiny("pixelcnn", {})
    model.save_pretrained(tmp_path / "saved")
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "empty").mkdir()
    weights = tmp_path / "saved" / "model.safetensors"
    cases = {tmp_path / "file": "is a file, not a saved model's folder", tmp_path / "empty": "is not a pixelrnn export"}
    for path, expected in cases.items():
        with pytest.raises(CheckpointError, match=expected):
            AutoregressiveImageModel.from_pretrained(path)
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    with pytest.raises(CheckpointError, match="is not a pixelrnn export"):
        PixelCNN.from_pretrained(tmp_path / "saved")


def test_push_to_hub_uploads_the_saved_folder(monkeypatch, tmp_path):
    model, images = tiny("pixelcnn_pp", {"hidden_channels": 6, "num_mixtures": 3, "dropout": 0.0, "num_layers": 1})
    model.save_pretrained(tmp_path / "local", config={"data": {"name": "tiny"}})
    uploaded: dict[str, bytes] = {}

    def upload_folder(self, *, repo_id: str, folder_path: str | Path, repo_type: str, **options) -> str:
        assert (repo_id, repo_type) == ("user/tiny-pp", "model")
        uploaded.update({path.name: path.read_bytes() for path in Path(folder_path).iterdir()})
        return "https://huggingface.co/user/tiny-pp/commit/0"

    create_repo = mock.Mock(return_value=SimpleNamespace(repo_id="user/tiny-pp"))
    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    assert model.push_to_hub("user/tiny-pp") == "https://huggingface.co/user/tiny-pp/commit/0"
    assert create_repo.call_args.kwargs["repo_id"] == "user/tiny-pp"
    assert set(uploaded) == FILES
    for name in ("config.json", "README.md"):  # what save_pretrained writes, its sections kept
        assert uploaded[name].decode() == (tmp_path / "local" / name).read_text()
    assert json.loads(uploaded["config.json"])["data"] == {"name": "tiny"}
    assert uploaded["README.md"].decode().startswith("---\nlibrary_name: pixelrnn\n")
    weights = load_safetensors(uploaded["model.safetensors"])
    assert weights.keys() == model.state_dict().keys()
    assert all(torch.equal(weights[key], value) for key, value in model.state_dict().items())
    (tmp_path / "pulled").mkdir()
    for name, content in uploaded.items():
        (tmp_path / "pulled" / name).write_bytes(content)
    assert torch.equal(log_prob(AutoregressiveImageModel.from_pretrained(tmp_path / "pulled"), images),
                       log_prob(model, images))


def test_sections_that_are_not_json_are_a_config_error(tmp_path):
    model, _ = tiny("pixelcnn", {})
    with pytest.raises(ConfigError, match="must be JSON values"):
        model.save_pretrained(tmp_path, config={"data": object()})


def test_the_mixins_model_card_is_pixelrnns(tmp_path):
    model, _ = tiny("pixelrnn", {"recurrent_layer": "row_lstm"})
    card = model.generate_model_card()
    assert card.data.library_name == "pixelrnn" and card.text.lstrip().startswith("# PixelRNN\n")
    model.save_pretrained(tmp_path)
    assert (tmp_path / "README.md").read_text().endswith(card.text)
