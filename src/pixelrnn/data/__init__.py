"""Data: the named data sets and their splits (:mod:`~pixelrnn.data.datasets`), batches
(:mod:`~pixelrnn.data.batching`), file formats (:mod:`~pixelrnn.data.formats`,
:mod:`~pixelrnn.data.npz`) and downloads
(:mod:`~pixelrnn.data.download`)."""

from pixelrnn.data.batching import ImageSplit, iterate_batches, random_hflip, shard_indices
from pixelrnn.data.datasets import SPLITS, ImageDataset, check_data_fits_model, load_dataset

__all__ = ["SPLITS", "ImageDataset", "ImageSplit", "check_data_fits_model", "iterate_batches", "load_dataset",
           "random_hflip", "shard_indices"]
