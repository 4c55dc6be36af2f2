"""The data layer: every on-disk format read exactly, splits, errors, downloads, and the batch iterator."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from data_files import md5, write_amat, write_cifar, write_mnist, write_png
from torch.utils.data import DistributedSampler

from pixelrnn.config import DataConfig
from pixelrnn.data import ImageSplit, iterate_batches, load_dataset, random_hflip, shard_indices
from pixelrnn.data.download import ensure_binarized_mnist, ensure_cifar10, ensure_mnist, fetch
from pixelrnn.errors import ConfigError, DataError

OFFLINE = "http://127.0.0.1:9/"  # the discard port: the connection is refused at once
RNG = np.random.default_rng(0)


def _raises(error_type, match, function, *args, **kwargs) -> str:
    """Assert ``function`` raises a one-line ``error_type`` matching ``match``; returns the message."""
    with pytest.raises(error_type, match=match) as info:
        function(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def _mnist_arrays(num_train=5, num_test=3):
    train = (RNG.integers(0, 256, (num_train, 28, 28), dtype=np.uint8), RNG.integers(0, 10, num_train, np.uint8))
    test = (RNG.integers(0, 256, (num_test, 28, 28), dtype=np.uint8), RNG.integers(0, 10, num_test, np.uint8))
    return train, test


def _split_union(dataset, splits=("train", "valid")) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels of several splits, sorted by label then by the first pixels (order-free compare)."""
    images = torch.cat([getattr(dataset, s).images for s in splits])
    labels = torch.cat([getattr(dataset, s).labels for s in splits])
    order = sorted(range(len(images)), key=lambda i: (int(labels[i]), images[i].flatten()[:16].tolist()))
    return images[order], labels[order]


# ------------------------------------------------------------------------------------------------- digits
@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig(name="digits", seed=0)), load_dataset(DataConfig(name="digits", seed=7))


def test_digits_splits_levels_and_fixed_test_split(digits):
    first, second = digits
    assert (first.num_levels, first.num_classes, first.image_shape) == (17, 10, (1, 8, 8))
    assert len(first.train) + len(first.valid) + len(first.test) == 1797
    assert (len(first.test), len(first.valid)) == (297, 150)
    assert first.train.images.dtype == torch.uint8 and first.train.labels.dtype == torch.int64
    assert int(first.train.images.max()) == 16 and set(first.test.labels.tolist()) == set(range(10))
    assert torch.equal(first.test.images, second.test.images)  # the test split ignores config.seed
    assert torch.equal(first.test.labels, second.test.labels)
    assert not torch.equal(first.valid.images, second.valid.images)  # the validation split follows it


def test_digits_cuts_and_no_validation():
    dataset = load_dataset(DataConfig(name="digits", valid_fraction=0.0, max_train_images=80, max_test_images=40))
    assert (len(dataset.train), len(dataset.valid), len(dataset.test)) == (80, 0, 40)
    assert dataset.valid.images.shape == (0, 1, 8, 8)


def test_classes_keep_those_labels_in_every_split_relabelled_in_the_order_given():
    everything = load_dataset(DataConfig(name="digits", valid_fraction=0.0))
    kept = load_dataset(DataConfig(name="digits", valid_fraction=0.0, classes=[7, 2]))
    assert kept.num_classes == 2
    for split in ("train", "test"):
        whole, part = getattr(everything, split), getattr(kept, split)
        sevens, twos = whole.images[whole.labels == 7], whole.images[whole.labels == 2]
        assert torch.equal(part.images[part.labels == 0], sevens) and torch.equal(part.images[part.labels == 1], twos)
        assert len(part) == len(sevens) + len(twos)
    held = load_dataset(DataConfig(name="digits", classes=[7, 2]))  # the validation split comes from those images
    assert set(held.valid.labels.tolist()) == {0, 1} and len(held.train) + len(held.valid) == len(kept.train)


def test_classes_that_a_data_set_lacks_or_repeats_are_one_line_errors(tmp_path):
    _raises(DataError, "has labels 0-9: it has no class 10, 12", load_dataset,
            DataConfig(name="digits", classes=[3, 10, 12]))
    _raises(ConfigError, "distinct labels", load_dataset, DataConfig(name="digits", classes=[1, 1]))
    _raises(ConfigError, "distinct labels", load_dataset, DataConfig(name="digits", classes=[-1]))
    images = np.random.default_rng(0).integers(0, 2, (6, 4, 4), dtype=np.uint8)
    np.savez(tmp_path / "unlabelled.npz", x_train=images, x_test=images)
    _raises(DataError, "has no class labels: it has no class 0", load_dataset,
            DataConfig(name="npz", path=str(tmp_path / "unlabelled.npz"), classes=[0]))


def test_unknown_data_set_is_a_config_error():
    _raises(ConfigError, "unknown data set 'imagenet'", load_dataset, DataConfig(name="imagenet"))


# -------------------------------------------------------------------------------------------------- MNIST
@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_files_read_exactly(tmp_path, gz):
    train, test = _mnist_arrays()
    write_mnist(tmp_path, train, test, gz=gz)
    dataset = load_dataset(DataConfig(name="mnist", path=str(tmp_path), valid_fraction=0.0, download=False))
    assert (dataset.num_levels, dataset.num_classes, dataset.image_shape) == (256, 10, (1, 28, 28))
    assert torch.equal(dataset.train.images, torch.from_numpy(train[0])[:, None])
    assert torch.equal(dataset.train.labels, torch.from_numpy(train[1]).long())
    assert torch.equal(dataset.test.images, torch.from_numpy(test[0])[:, None])
    assert dataset.test.labels.tolist() == test[1].tolist()
    split = load_dataset(DataConfig(name="mnist", path=str(tmp_path), valid_fraction=0.4, download=False))
    assert (len(split.train), len(split.valid)) == (3, 2)
    assert all(torch.equal(a, b) for a, b in zip(_split_union(split), _split_union(dataset), strict=True))


def test_mnist_missing_file_names_it_and_the_folder(tmp_path):
    write_mnist(tmp_path, *_mnist_arrays(), gz=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    message = _raises(DataError, "t10k-labels-idx1-ubyte", load_dataset,
                      DataConfig(name="mnist", path=str(tmp_path), download=False))
    assert str(tmp_path) in message


@pytest.mark.parametrize("damage", ["truncated_raw", "truncated_gz", "bad_magic", "extra_bytes"])
def test_corrupt_idx_is_a_data_error_naming_the_file(tmp_path, damage):
    write_mnist(tmp_path, *_mnist_arrays(), gz=damage == "truncated_gz")
    name = "train-images-idx3-ubyte" + (".gz" if damage == "truncated_gz" else "")
    path = tmp_path / name
    data = path.read_bytes()
    changed = {"truncated_raw": data[:-100], "truncated_gz": data[: len(data) // 2],
               "bad_magic": b"\x12\x34" + data[2:], "extra_bytes": data + b"\x00"}[damage]
    path.write_bytes(changed)
    _raises(DataError, name, load_dataset, DataConfig(name="mnist", path=str(tmp_path), download=False))


# ---------------------------------------------------------------------------------------- binarized MNIST
def test_binarized_mnist_amat_uses_the_official_splits(tmp_path):
    arrays = {split: RNG.integers(0, 2, (n, 28, 28), dtype=np.uint8)
              for split, n in (("train", 5), ("valid", 2), ("test", 3))}
    for split, images in arrays.items():
        write_amat(tmp_path / f"binarized_mnist_{split}.amat", images)
    dataset = load_dataset(DataConfig(name="binarized_mnist", path=str(tmp_path), download=False))
    assert (dataset.num_levels, dataset.num_classes, dataset.image_shape) == (2, 0, (1, 28, 28))
    for split, images in arrays.items():
        assert torch.equal(getattr(dataset, split).images, torch.from_numpy(images)[:, None])
        assert getattr(dataset, split).labels.tolist() == [-1] * len(images)


def test_malformed_amat_line_is_reported(tmp_path):
    for split in ("train", "valid", "test"):
        write_amat(tmp_path / f"binarized_mnist_{split}.amat", np.zeros((2, 28, 28), np.uint8))
    path = tmp_path / "binarized_mnist_valid.amat"
    path.write_text(path.read_text() + " ".join(["1"] * 783) + "\n")
    _raises(DataError, "line 3 has 783 values", load_dataset,
            DataConfig(name="binarized_mnist", path=str(tmp_path), download=False))


def test_dynamic_binarization_is_deterministic_and_binary(tmp_path):
    train, test = _mnist_arrays(num_train=20, num_test=4)
    train[0][:, :14], train[0][:, 14:] = 0, 255  # grey 0 -> always 0, grey 255 -> always 1
    write_mnist(tmp_path, train, test, gz=True)
    config = DataConfig(name="binarized_mnist", binarize="dynamic", path=str(tmp_path), valid_fraction=0.0,
                        download=False)
    first, again = load_dataset(config), load_dataset(config)
    other = load_dataset(DataConfig(**{**config.__dict__, "seed": 1}))
    assert (first.num_levels, first.num_classes) == (2, 10)
    assert torch.equal(first.train.images, again.train.images) and torch.equal(first.test.images, again.test.images)
    assert not torch.equal(first.test.images, other.test.images)
    assert set(first.test.images.unique().tolist()) == {0, 1}
    assert first.train.images[:, :, :14].sum() == 0 and first.train.images[:, :, 14:].min() == 1
    assert first.train.labels.tolist() == train[1].tolist()


def test_dynamic_binarization_redraws_the_training_pixels_every_epoch(tmp_path):
    train, test = _mnist_arrays(num_train=20, num_test=4)
    train[0][:, :10], train[0][:, 10:] = 0, 128  # grey 0 stays 0; grey 128 is a coin flip per draw
    write_mnist(tmp_path, train, test, gz=True)
    config = DataConfig(name="binarized_mnist", binarize="dynamic", path=str(tmp_path), valid_fraction=0.25,
                        download=False)
    dataset = load_dataset(config)
    epochs = [dataset.training_split(epoch).images for epoch in range(3)]
    assert not torch.equal(epochs[0], epochs[1]) and not torch.equal(epochs[1], epochs[2])  # a new draw each epoch
    assert torch.equal(epochs[1], load_dataset(config).training_split(1).images)  # fixed by seed and epoch
    assert all(images[:, :, :10].sum() == 0 and set(images.unique().tolist()) == {0, 1} for images in epochs)
    assert len(dataset.train) == 15 and len(dataset.valid) == 5  # the same hold-out as the draw kept in train
    assert torch.equal(dataset.training_split(0).labels, dataset.train.labels)
    once = load_dataset(DataConfig(**{**config.__dict__, "binarize": "once"}))
    assert torch.equal(once.training_split(0).images, once.train.images)  # drawn once: the same every epoch
    assert torch.equal(once.train.images, dataset.train.images) and torch.equal(once.test.images, dataset.test.images)


def test_named_data_sets_read_their_npz_and_keep_their_name(tmp_path):
    binary = {f"x_{split}": RNG.integers(0, 2, (n, 28, 28), dtype=np.uint8)
              for split, n in (("train", 5), ("valid", 2), ("test", 3))}
    np.savez_compressed(tmp_path / "binarized_mnist.npz", **binary)
    dataset = load_dataset(DataConfig(name="binarized_mnist", path=str(tmp_path / "binarized_mnist.npz")))
    assert (dataset.name, dataset.num_levels, len(dataset.train), len(dataset.valid), len(dataset.test)) == \
        ("binarized_mnist", 2, 5, 2, 3)
    assert torch.equal(dataset.valid.images[:, 0], torch.from_numpy(binary["x_valid"]))
    grey = {"x_train": RNG.integers(0, 256, (6, 28, 28), dtype=np.uint8), "y_train": np.arange(6) % 10,
            "x_test": RNG.integers(0, 256, (2, 28, 28), dtype=np.uint8), "y_test": np.arange(2)}
    np.savez_compressed(tmp_path / "mnist.npz", **grey)
    mnist = load_dataset(DataConfig(name="mnist", path=str(tmp_path / "mnist.npz"), valid_fraction=0.0))
    assert (mnist.name, mnist.num_levels, mnist.num_classes, len(mnist.train)) == ("mnist", 256, 10, 6)
    dynamic = load_dataset(DataConfig(name="binarized_mnist", binarize="dynamic", valid_fraction=0.0,
                                      path=str(tmp_path / "mnist.npz")))
    assert dynamic.train_grey is not None and torch.equal(dynamic.train_grey[:, 0], torch.from_numpy(grey["x_train"]))
    _raises(DataError, "not cifar10's 3×32×32", load_dataset, DataConfig(name="cifar10",
                                                                         path=str(tmp_path / "mnist.npz")))
    _raises(DataError, "not the binarized MNIST split", load_dataset,
            DataConfig(name="binarized_mnist", path=str(tmp_path / "mnist.npz")))


# ----------------------------------------------------------------------------------------------- CIFAR-10
def _cifar_batches(num_per_batch=2):
    batches = [(RNG.integers(0, 256, (num_per_batch, 3072), dtype=np.uint8), RNG.integers(0, 10, num_per_batch))
               for _ in range(6)]
    batches[0][0][0] = 0
    batches[0][0][0, 2 * 1024 + 5 * 32 + 7] = 200  # blue plane, row 5, column 7 of the first image
    return batches[:5], batches[5]


@pytest.mark.parametrize("where", ["batches_folder", "parent", "archive"])
def test_cifar10_batches_planes_and_labels(tmp_path, where):
    train, test = _cifar_batches()
    if where == "archive":
        write_cifar(tmp_path, train, test, archive=tmp_path / "cifar-10-python.tar.gz")
    else:
        write_cifar(tmp_path / "cifar-10-batches-py", train, test)
    path = tmp_path / "cifar-10-batches-py" if where == "batches_folder" else tmp_path
    dataset = load_dataset(DataConfig(name="cifar10", path=str(path), valid_fraction=0.0, download=False))
    assert (dataset.num_levels, dataset.num_classes, dataset.image_shape) == (256, 10, (3, 32, 32))
    assert len(dataset.train) == 10 and len(dataset.test) == 2
    first = dataset.train.images[0]
    assert first[2, 5, 7] == 200 and first.sum() == 200  # the R, G, B planes land on channels 0, 1, 2
    rows = np.concatenate([rows for rows, _ in train]).reshape(10, 3, 32, 32)  # (N, 3072) -> (N, C, H, W)
    assert torch.equal(dataset.train.images, torch.from_numpy(rows))
    assert dataset.train.labels.tolist() == np.concatenate([labels for _, labels in train]).tolist()
    assert dataset.test.labels.tolist() == test[1].tolist()


def test_cifar10_missing_is_a_data_error(tmp_path):
    _raises(DataError, "cifar-10-python.tar.gz", load_dataset,
            DataConfig(name="cifar10", path=str(tmp_path), download=False))


def test_cifar10_refuses_pickles_that_run_code(tmp_path):
    write_cifar(tmp_path, *_cifar_batches())
    (tmp_path / "test_batch").write_bytes(b"cos\nsystem\n(S'true'\ntR.")  # a pickle that calls os.system
    _raises(DataError, "test_batch", load_dataset, DataConfig(name="cifar10", path=str(tmp_path), download=False))


# --------------------------------------------------------------------------------------------- PNG folders
def test_png_folder_flat_greyscale(tmp_path):
    for i in range(10):
        write_png(tmp_path / f"{i:02d}.png", np.full((6, 5), i * 20, np.uint8))
    write_png(tmp_path / "00.png", np.arange(30, dtype=np.uint8).reshape(6, 5))
    dataset = load_dataset(DataConfig(name="folder", path=str(tmp_path), valid_fraction=0.2))
    assert (dataset.num_levels, dataset.num_classes, dataset.image_shape) == (256, 0, (1, 6, 5))
    assert (len(dataset.train), len(dataset.valid), len(dataset.test)) == (7, 2, 1)
    images = torch.cat([dataset.train.images, dataset.valid.images, dataset.test.images])
    assert sorted(int(image[0, 0, 1]) for image in images) == [1] + [i * 20 for i in range(1, 10)]
    ramp = [image for image in images if image[0, 0, 1] == 1][0]
    assert torch.equal(ramp[0], torch.arange(30, dtype=torch.uint8).reshape(6, 5))  # (H, W) row-major
    assert set(torch.cat([dataset.train.labels, dataset.test.labels]).tolist()) == {-1}
    again = load_dataset(DataConfig(name="folder", path=str(tmp_path), seed=3))
    assert torch.equal(again.test.images, dataset.test.images)  # the held-out test split is fixed


def test_png_folder_one_sub_folder_per_class_rgb(tmp_path):
    for class_name, red in (("cat", 10), ("ant", 50), ("bee", 90)):
        for i in range(4):
            write_png(tmp_path / class_name / f"{i}.png", np.stack([np.full((4, 3), v, np.uint8)
                                                                    for v in (red, i, 255 - i)], axis=-1))
    dataset = load_dataset(DataConfig(name="folder", path=str(tmp_path), valid_fraction=0.0))
    assert (dataset.num_classes, dataset.image_shape) == (3, (3, 4, 3))
    assert (len(dataset.train), len(dataset.test)) == (11, 1)
    seen = set()
    for image, label in zip(torch.cat([dataset.train.images, dataset.test.images]),
                            torch.cat([dataset.train.labels, dataset.test.labels]), strict=True):
        red, green, blue = (int(image[c, 0, 0]) for c in range(3))  # channels R, G, B
        assert int(label) == {50: 0, 90: 1, 10: 2}[red]  # class ids follow the sorted names: ant, bee, cat
        assert torch.equal(image[2], torch.full((4, 3), 255 - green, dtype=torch.uint8))
        seen.add((red, green))
    assert len(seen) == 12


def test_png_folder_of_1_bit_images_is_binary(tmp_path):
    from PIL import Image

    pictures = [RNG.integers(0, 2, (7, 6), dtype=np.uint8) for _ in range(10)]
    for i, bits in enumerate(pictures):
        Image.fromarray(bits * 255).convert("1").save(tmp_path / f"{i:02d}.png")  # mode "1": 1 bit per pixel
    dataset = load_dataset(DataConfig(name="folder", path=str(tmp_path), valid_fraction=0.0))
    assert (dataset.num_levels, dataset.image_shape) == (2, (1, 7, 6))
    images = torch.cat([dataset.train.images, dataset.test.images])[:, 0]
    assert sorted(image.numpy().tobytes() for image in images) == sorted(bits.tobytes() for bits in pictures)
    Image.fromarray(np.zeros((7, 6), np.uint8)).save(tmp_path / "03.png")  # one grey image among them
    _raises(DataError, "has mode L but .*00.png has mode 1", load_dataset, DataConfig(name="folder",
                                                                                      path=str(tmp_path)))


@pytest.mark.parametrize("problem", ["mixed_sizes", "not_png", "rgba", "empty", "fake_png"])
def test_png_folder_errors(tmp_path, problem):
    for i in range(3):
        write_png(tmp_path / f"{i}.png", np.zeros((8, 8), np.uint8))
    if problem == "mixed_sizes":
        write_png(tmp_path / "2.png", np.zeros((8, 9), np.uint8))
        message = _raises(DataError, "2.png", load_dataset, DataConfig(name="folder", path=str(tmp_path)))
        assert "9×8" in message and "8×8" in message and "0.png" in message
    elif problem == "not_png":
        (tmp_path / "notes.txt").write_text("hello")
        _raises(DataError, "notes.txt", load_dataset, DataConfig(name="folder", path=str(tmp_path)))
    elif problem == "rgba":
        write_png(tmp_path / "1.png", np.zeros((8, 8, 4), np.uint8))
        _raises(DataError, "1.png has PNG mode RGBA", load_dataset, DataConfig(name="folder", path=str(tmp_path)))
    elif problem == "fake_png":
        (tmp_path / "1.png").write_bytes(b"not an image")
        _raises(DataError, "1.png", load_dataset, DataConfig(name="folder", path=str(tmp_path)))
    else:
        (tmp_path / "sub").mkdir()
        _raises(DataError, "no PNG images", load_dataset, DataConfig(name="folder", path=str(tmp_path / "sub")))


# --------------------------------------------------------------------------------------------------- .npz
@pytest.mark.parametrize("layout", ["nhw", "nhwc3", "nchw3", "nhwc1"])
def test_npz_layouts(tmp_path, layout):
    images = RNG.integers(0, 256, (6, 3 if layout.endswith("3") else 1, 5, 4), dtype=np.uint8)  # (N, C, H, W)
    stored = {"nhw": images[:, 0], "nchw3": images}.get(layout, images.transpose(0, 2, 3, 1))
    np.savez(tmp_path / "d.npz", x_train=stored, x_test=stored[:2], y_train=np.arange(6), y_test=np.array([4, 1]))
    dataset = load_dataset(DataConfig(name="npz", path=str(tmp_path / "d.npz"), valid_fraction=0.0))
    assert (dataset.num_levels, dataset.num_classes, dataset.image_shape) == (256, 6, images.shape[1:])
    assert torch.equal(dataset.train.images, torch.from_numpy(images))
    assert dataset.test.labels.tolist() == [4, 1]


def test_npz_binary_with_official_validation_split(tmp_path):
    x = RNG.integers(0, 2, (9, 7, 7), dtype=np.uint8)
    np.savez(tmp_path / "b.npz", x_train=x[:5], x_valid=x[5:7], x_test=x[7:])
    dataset = load_dataset(DataConfig(name="npz", path=str(tmp_path / "b.npz"), max_test_images=1))
    assert (dataset.num_levels, dataset.num_classes) == (2, 0)
    assert torch.equal(dataset.valid.images[:, 0], torch.from_numpy(x[5:6]))
    assert (len(dataset.train), len(dataset.valid), len(dataset.test)) == (5, 1, 1)
    assert dataset.train.labels.tolist() == [-1] * 5


def test_npz_errors(tmp_path):
    _raises(DataError, "missing.npz", load_dataset, DataConfig(name="npz", path=str(tmp_path / "missing.npz")))
    np.savez(tmp_path / "a.npz", x_train=np.zeros((2, 4, 4), np.uint8))
    _raises(DataError, "lacks x_test", load_dataset, DataConfig(name="npz", path=str(tmp_path / "a.npz")))
    np.savez(tmp_path / "c.npz", x_train=np.zeros((2, 4, 4)), x_test=np.full((2, 4, 4), 300))
    _raises(DataError, r"\[0, 255\]", load_dataset, DataConfig(name="npz", path=str(tmp_path / "c.npz")))
    _raises(ConfigError, "needs a path", load_dataset, DataConfig(name="npz"))


def test_npz_arrays_other_than_the_splits_are_never_read(tmp_path):
    images = RNG.integers(0, 256, (6, 5, 4), dtype=np.uint8)
    # an object array needs pickle to load: reading it with allow_pickle=False would fail
    np.savez(tmp_path / "d.npz", x_train=images, x_test=images[:2], notes=np.array([{"author": "x"}], dtype=object))
    dataset = load_dataset(DataConfig(name="npz", path=str(tmp_path / "d.npz"), valid_fraction=0.0))
    assert torch.equal(dataset.train.images[:, 0], torch.from_numpy(images))
    np.savez(tmp_path / "e.npz", x_train=images, notes=np.zeros(1))
    message = _raises(DataError, "lacks x_test", load_dataset, DataConfig(name="npz", path=str(tmp_path / "e.npz")))
    assert "it holds: notes, x_train" in message  # the names, from the archive's index


def test_large_npz_is_cached_decompressed_and_memory_mapped(tmp_path, monkeypatch):
    from pixelrnn.data import datasets, npz

    monkeypatch.setattr(npz, "NPZ_CACHE_MIN_BYTES", 0)
    monkeypatch.setattr(datasets, "CACHE_ROOT", tmp_path / "cache")
    source = tmp_path / "mnist.npz"
    (train_x, train_y), (test_x, test_y) = _mnist_arrays(num_train=20, num_test=6)
    np.savez_compressed(source, x_train=train_x, y_train=train_y, x_test=test_x, y_test=test_y)
    config = DataConfig(name="mnist", path=str(source), max_test_images=4)
    first = load_dataset(config)
    (folder,) = (tmp_path / "cache" / "npz").iterdir()
    assert folder.name.startswith("mnist-") and (folder / "complete").read_text() == "train test"
    cached = npz.read_npz(source, tmp_path / "cache" / "npz")
    assert isinstance(cached["train"][0], np.memmap) and cached["train"][0].shape == (20, 1, 28, 28)
    second = load_dataset(config)
    for split in ("train", "valid", "test"):
        assert torch.equal(getattr(first, split).images, getattr(second, split).images)
        assert torch.equal(getattr(first, split).labels, getattr(second, split).labels)
    assert second.train.images.numpy().flags.writeable  # in memory, not the read-only map
    assert torch.equal(second.test.images[:, 0], torch.from_numpy(test_x[:4]))
    np.savez_compressed(source, x_train=train_x[:10], y_train=train_y[:10], x_test=test_x, y_test=test_y)
    os.utime(source, ns=(1, 1))  # a changed file: another cache entry, not the stale one
    assert len(load_dataset(config).train) + len(load_dataset(config).valid) == 10
    assert len(list((tmp_path / "cache" / "npz").iterdir())) == 2


# ----------------------------------------------------------------------------------------------- downloads
def _served(tmp_path, files: dict[str, bytes]) -> tuple[str, dict[str, str]]:
    """Write ``files`` into a folder; returns its file:// base URL and the files' md5s."""
    served = tmp_path / "served"
    served.mkdir()
    for name, data in files.items():
        (served / name).write_bytes(data)
    return served.as_uri() + "/", {name: md5(served / name) for name in files}


def test_fetch_verifies_the_checksum_and_leaves_no_temporary_file(tmp_path):
    url, md5s = _served(tmp_path, {"blob.bin": b"some bytes"})
    target = tmp_path / "target"
    assert fetch("blob.bin", target, [OFFLINE, url], md5s["blob.bin"]).read_bytes() == b"some bytes"
    _raises(DataError, "checksum mismatch for blob.bin", fetch, "blob.bin", tmp_path / "other", [url], "0" * 32)
    assert list((tmp_path / "other").iterdir()) == [] and sorted(p.name for p in target.iterdir()) == ["blob.bin"]


def test_offline_download_says_which_files_go_where(tmp_path):
    message = _raises(DataError, "could not download train-images-idx3-ubyte.gz", ensure_mnist, tmp_path, True,
                      base_urls=[OFFLINE])
    assert "t10k-labels-idx1-ubyte.gz" in message and str(tmp_path) in message and "--data-path" in message
    _raises(DataError, "binarized_mnist_train.amat", ensure_binarized_mnist, tmp_path, True, base_urls=[OFFLINE])
    assert list(tmp_path.iterdir()) == []


def test_downloaded_mnist_and_cifar10_load(tmp_path):
    source = tmp_path / "source"
    write_mnist(source, *_mnist_arrays(), gz=True)
    write_cifar(source, *_cifar_batches(), archive=source / "cifar-10-python.tar.gz")
    url, md5s = _served(tmp_path, {p.name: p.read_bytes() for p in source.iterdir()})
    ensure_mnist(tmp_path / "mnist", True, base_urls=[OFFLINE, url], md5s={k: v for k, v in md5s.items()
                                                                              if "ubyte" in k})
    mnist = load_dataset(DataConfig(name="mnist", path=str(tmp_path / "mnist"), download=False))
    assert len(mnist.train) + len(mnist.valid) == 5
    batches = ensure_cifar10(tmp_path / "cifar", True, base_urls=[url], md5=md5s["cifar-10-python.tar.gz"])
    assert batches == tmp_path / "cifar" / "cifar-10-batches-py"
    cifar = load_dataset(DataConfig(name="cifar10", path=str(tmp_path / "cifar"), download=False))
    assert cifar.train.images[0, 2, 5, 7] == 200


# ---------------------------------------------------------------------------------------------- batching
def _indexed_split(num_images: int) -> ImageSplit:
    """Image i is filled with i % 256 and labelled i: a batch tells which indices it holds."""
    images = (torch.arange(num_images) % 256).to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 2, 3).contiguous()
    return ImageSplit(images, torch.arange(num_images))


def _labels(batches) -> list[int]:
    return [label for _, labels in batches for label in labels.tolist()]


def test_shuffled_epoch_covers_every_index_once_in_the_sampler_order():
    split = _indexed_split(23)
    batches = list(iterate_batches(split, 5, shuffle=True, seed=4, epoch=2))
    assert [len(labels) for _, labels in batches] == [5, 5, 5, 5, 3]
    for images, labels in batches:
        assert images.dtype == torch.uint8 and labels.dtype == torch.int64 and images.shape[1:] == (1, 2, 3)
        assert torch.equal(images[:, 0, 0, 0].long(), labels)
    order = _labels(batches)
    assert sorted(order) == list(range(23))
    sampler = DistributedSampler(range(23), num_replicas=1, rank=0, shuffle=True, seed=4)
    sampler.set_epoch(2)
    assert order == list(sampler)
    assert order == _labels(iterate_batches(split, 5, shuffle=True, seed=4, epoch=2))
    assert order != _labels(iterate_batches(split, 5, shuffle=True, seed=4, epoch=3))
    assert order[10:] == _labels(iterate_batches(split, 5, shuffle=True, seed=4, epoch=2, skip_batches=2))


def test_shuffled_ranks_pad_to_equal_lengths():
    split = _indexed_split(11)
    per_rank = [_labels(iterate_batches(split, 4, shuffle=True, seed=1, rank=r, world_size=3)) for r in range(3)]
    assert [len(order) for order in per_rank] == [4, 4, 4]
    assert set(sum(per_rank, [])) == set(range(11))


@pytest.mark.parametrize("world_size", [2, 3])
def test_evaluation_shards_hold_every_index_exactly_once(world_size):
    split = _indexed_split(20)
    shards = [_labels(iterate_batches(split, 3, shuffle=False, rank=r, world_size=world_size))
              for r in range(world_size)]
    everything = sum(shards, [])
    assert sorted(everything) == list(range(20)) and len(everything) == 20
    assert shards[1] == shard_indices(20, 1, world_size).tolist() == list(range(1, 20, world_size))


def test_bad_batching_arguments_are_config_errors():
    split = _indexed_split(4)
    _raises(ConfigError, "rank 2", iterate_batches, split, 2, shuffle=False, rank=2, world_size=2)
    _raises(ConfigError, "batch_size", iterate_batches, split, 0, shuffle=True)


def test_random_hflip_flips_exactly_the_chosen_images():
    images = torch.arange(6 * 2 * 3 * 4, dtype=torch.uint8).view(6, 2, 3, 4)  # no image is its own mirror
    flipped = random_hflip(images, torch.Generator().manual_seed(5))
    chosen = torch.rand(6, generator=torch.Generator().manual_seed(5)) < 0.5
    assert 0 < int(chosen.sum()) < 6
    for image, out, flip in zip(images, flipped, chosen, strict=True):
        assert torch.equal(out, image.flip(-1) if flip else image)


def test_iterated_flips_are_reproducible_and_resume_exactly():
    split = ImageSplit(torch.arange(40 * 6, dtype=torch.uint8).view(40, 1, 2, 3), torch.arange(40))

    def flips(**kwargs) -> list[bool]:
        batches = iterate_batches(split, 8, shuffle=True, seed=2, hflip=True, **kwargs)
        out = []
        for images, labels in batches:
            original = split.images[labels]
            assert all(torch.equal(i, o) or torch.equal(i, o.flip(-1)) for i, o in zip(images, original, strict=True))
            out += [not torch.equal(i, o) for i, o in zip(images, original, strict=True)]
        return out

    full = flips(epoch=0)
    assert 5 < sum(full) < 35
    assert flips(epoch=0) == full and flips(epoch=1) != full
    assert flips(epoch=0, skip_batches=3) == full[24:]


def test_image_split_checks_dtypes():
    _raises(DataError, "uint8", ImageSplit, torch.zeros(2, 1, 2, 2), torch.zeros(2, dtype=torch.int64))
    _raises(DataError, "int64", ImageSplit, torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.zeros(3))


def test_the_classes_flag_collects_every_label_given():
    import argparse

    from pixelrnn.cli.common import add_data_flags, data_config_of

    parser = argparse.ArgumentParser()
    add_data_flags(parser, "digits")
    assert data_config_of(parser.parse_args(["--classes", "3", "--classes", "0", "5"])).classes == [3, 0, 5]
    assert data_config_of(parser.parse_args([])).classes == []
