"""What the package ships and declares (#17): the digits inside it (no scikit-learn), its licence, typing marker,
citation, changelog and metadata, and a wheel that carries them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tomllib

from pixelrnn import __version__, pretrained
from pixelrnn.data.formats import read_digits

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_digits_come_from_the_package_without_scikit_learn():
    code = ("import sys; from pixelrnn.data.formats import read_digits; images, labels = read_digits(); "
            "assert 'sklearn' not in sys.modules; print(images.shape, images.dtype, int(images.max()), labels[:5])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "(1797, 1, 8, 8) uint8 16 [0 1 2 3 4]"


def test_the_shipped_digits_are_scikit_learns_exactly():
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    images, labels = read_digits()
    assert np.array_equal(images[:, 0], digits.images.astype(np.uint8)) and np.array_equal(digits.images,
                                                                                          images[:, 0])
    assert np.array_equal(labels, digits.target)


def test_dependencies_leave_scikit_learn_to_the_dev_extra_and_bring_tomli_to_python_3_10():
    project = PYPROJECT["project"]
    core = " ".join(project["dependencies"])
    assert "scikit-learn" not in core and "tomli>=1.1; python_version < '3.11'" in project["dependencies"]
    assert any(requirement.startswith("scikit-learn") for requirement in project["optional-dependencies"]["dev"])
    assert "torchvision" not in core


def test_metadata_licence_typing_citation_and_changelog():
    project = PYPROJECT["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    assert "Typing :: Typed" in project["classifiers"] and "Programming Language :: Python :: 3.10" in project[
        "classifiers"]
    assert (ROOT / "src/pixelrnn/py.typed").is_file()
    assert set(PYPROJECT["tool"]["setuptools"]["package-data"]["pixelrnn"]) >= {"py.typed", "data/digits.npz",
                                                                               "data/DIGITS.md"}
    citation = (ROOT / "CITATION.cff").read_text()
    assert re.search(rf"^version: {re.escape(__version__)}$", citation, flags=re.MULTILINE)
    assert citation.count("- type: conference-paper") == 4 and "Pixel Recurrent Neural Networks" in citation
    assert (ROOT / "CHANGELOG.md").read_text().startswith("# Changelog\n") and f"## {__version__}" in (
        ROOT / "CHANGELOG.md").read_text()


@pytest.mark.slow
def test_the_wheel_carries_the_data_licence_and_typing_marker(tmp_path):
    source = tmp_path / "source"
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("pixelrnn-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"pixelrnn-{__version__}.dist-info/METADATA").decode()
    assert {"pixelrnn/py.typed", "pixelrnn/data/digits.npz", "pixelrnn/data/DIGITS.md",
            f"pixelrnn-{__version__}.dist-info/licenses/LICENSE"} <= names
    shipped = {f"pixelrnn/pretrained_models/{name}/{file}" for name in pretrained.available()
               for file in ("config.json", "model.safetensors", "README.md")}
    assert shipped and shipped <= names  # the pretrained models travel in the wheel
    native = {f"pixelrnn/nn/native/{name}" for name in ("diagonal_lstm.cpp", "row_lstm.cpp", "lstm_cell.h",
                                                         "diagonal_layout.h")}
    assert native <= names  # the native loops' sources, compiled on first use
    assert "License-Expression: MIT" in metadata and "Classifier: Typing :: Typed" in metadata
    assert "Project-URL: PixelRNN paper, https://arxiv.org/abs/1601.06759" in metadata
    requirements = [line for line in metadata.splitlines() if line.startswith("Requires-Dist: scikit-learn")]
    assert requirements and all('extra == "dev"' in line for line in requirements)
