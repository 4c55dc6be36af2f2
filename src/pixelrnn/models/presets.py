"""Named architecture presets: the papers' networks and our small ones.

``PRESETS`` maps a preset name to architecture fields of :class:`~pixelrnn.config.ModelConfig` (``name`` is the
family's registry name); the image shape, levels and classes are never part of a preset: they come from the data
set (:func:`pixelrnn.models.registry.model_config`). ``PRESET_TRAINING`` holds what a single preset trains with
beyond its family's ``training_defaults``.
"""

from __future__ import annotations

from typing import Any

from pixelrnn.models.pixelrnn import PAPER_RMSPROP

# The paper's connections (PixelRNN §4, "Specifications of Models"): residual and layer-to-output (skip)
# connections in all three networks; the PixelRNNs' initial recurrent state is learned.
_PAPER_PIXELCNN = {"skip_connections": True}
_PAPER_PIXELRNN = {"skip_connections": True, "learned_initial_state": True}

PRESETS: dict[str, dict[str, Any]] = {
    # The paper's CIFAR-10 PixelCNN (van den Oord et al. 2016, §4 "Specifications of Models"): "The PixelCNN
    # has 15 layers and h = 128"; 3×3 mask-B convolutions after the 7×7 mask-A input layer; the two ReLU +
    # 1×1 output layers "have 1024 feature maps" for CIFAR-10 and ImageNet. We read the 15 layers as 15
    # residual blocks, as the 12 "layers" of the PixelRNNs count recurrent layers. 2h = 256 and 1024 maps are
    # not multiples of 3: the colour groups are then contiguous and as equal as possible (86/85/85).
    "pixelcnn-cifar10": {"name": "pixelcnn", "hidden_channels": 128, "num_layers": 15, "kernel_size": 3,
                         "first_kernel_size": 7, "output_channels": 1024, **_PAPER_PIXELCNN},
    # Binarized-MNIST scale. The paper lists a PixelCNN on binarized MNIST (81.30 nats, Table 4) without its
    # size: ours, not the paper's. Its one specified MNIST model is the Diagonal BiLSTM "with 7 layers and a
    # value of h = 16", whose output layers "have 32 feature maps" (§4); we give the PixelCNN the same sizes.
    "pixelcnn-mnist": {"name": "pixelcnn", "hidden_channels": 16, "num_layers": 7, "kernel_size": 3,
                       "first_kernel_size": 7, "output_channels": 32, **_PAPER_PIXELCNN},
    # Ours, not the paper's: trains in a minute or two on a CPU on the 8×8 digits (17 levels).
    "pixelcnn-small": {"name": "pixelcnn", "hidden_channels": 16, "num_layers": 4, "kernel_size": 3,
                       "first_kernel_size": 7, "output_channels": 32},
    # Ours, for tests and smoke runs: the smallest PixelCNN that still has every kind of layer (h = 6 gives
    # each of R, G, B two feature maps in the bottleneck).
    "pixelcnn-tiny": {"name": "pixelcnn", "hidden_channels": 6, "num_layers": 1, "kernel_size": 3,
                      "first_kernel_size": 7, "output_channels": 12},
    # The paper's CIFAR-10 PixelRNNs (§4 "Specifications of Models"): "the Row LSTM and the Diagonal BiLSTM have
    # 12 layers and h = 128"; the Row LSTM's input-to-state and state-to-state kernels are 3 wide (k = 3, §3.1);
    # the output layers have 1024 feature maps, as for the PixelCNN.
    "row-lstm-cifar10": {"name": "pixelrnn", "recurrent_layer": "row_lstm", "hidden_channels": 128,
                         "num_layers": 12, "kernel_size": 3, "first_kernel_size": 7, "output_channels": 1024,
                         **_PAPER_PIXELRNN},
    "diagonal-bilstm-cifar10": {"name": "pixelrnn", "recurrent_layer": "diagonal_bilstm", "hidden_channels": 128,
                                "num_layers": 12, "kernel_size": 3, "first_kernel_size": 7, "output_channels": 1024,
                                **_PAPER_PIXELRNN},
    # Binarized MNIST (§4): "a Diagonal BiLSTM with 7 layers and a value of h = 16", output layers of 32 feature
    # maps, one sigmoid per pixel (the head follows from the data's 2 levels). The Row LSTM's MNIST size is not
    # stated (Table 4 gives its 80.54 nats only): ours, the same sizes.
    "diagonal-bilstm-mnist": {"name": "pixelrnn", "recurrent_layer": "diagonal_bilstm", "hidden_channels": 16,
                              "num_layers": 7, "kernel_size": 3, "first_kernel_size": 7, "output_channels": 32,
                              **_PAPER_PIXELRNN},
    "row-lstm-mnist": {"name": "pixelrnn", "recurrent_layer": "row_lstm", "hidden_channels": 16, "num_layers": 7,
                       "kernel_size": 3, "first_kernel_size": 7, "output_channels": 32, **_PAPER_PIXELRNN},
    # Ours, not the paper's: minutes on a CPU on the 8×8 digits.
    "row-lstm-small": {"name": "pixelrnn", "recurrent_layer": "row_lstm", "hidden_channels": 16, "num_layers": 2,
                       "kernel_size": 3, "first_kernel_size": 7, "output_channels": 32},
    "diagonal-bilstm-small": {"name": "pixelrnn", "recurrent_layer": "diagonal_bilstm", "hidden_channels": 16,
                              "num_layers": 2, "kernel_size": 3, "first_kernel_size": 7, "output_channels": 32},
    # Ours: a Multi-Scale PixelRNN of two small Diagonal BiLSTMs (8×8 digits: a 4×4 image, then the rest).
    "multiscale-pixelrnn-small": {"name": "multiscale_pixelrnn", "recurrent_layer": "diagonal_bilstm",
                                  "hidden_channels": 16, "num_layers": 2, "kernel_size": 3, "first_kernel_size": 7,
                                  "output_channels": 32, "subsample_factor": 2},
    # Gated PixelCNN (van den Oord et al., NeurIPS 2016), the ImageNet model of its Table 2: "20 layers (Figure 2),
    # each of which has 384 hidden units and filter size of 5 × 5"; the 7×7 first layer and the 1024 output maps
    # follow the PixelCNN above. The paper conditions with V·onehot(y).
    "gated-pixelcnn-imagenet": {"name": "gated_pixelcnn", "hidden_channels": 384, "num_layers": 20, "kernel_size": 5,
                                "first_kernel_size": 7, "output_channels": 1024, "conditioning": "onehot"},
    # The CIFAR-10 row of its Table 1 (3.03 bits/dim) comes without a size: guessed, not the paper's. The ImageNet
    # model's depth and filters (20 layers, 5×5), the width of the PixelRNN paper's CIFAR-10 residual stream
    # (2h = 256 maps), and its 1024 output maps.
    "gated-pixelcnn-cifar10": {"name": "gated_pixelcnn", "hidden_channels": 256, "num_layers": 20, "kernel_size": 5,
                               "first_kernel_size": 7, "output_channels": 1024, "conditioning": "onehot"},
    # Ours: minutes on a CPU on the 8×8 digits.
    "gated-pixelcnn-small": {"name": "gated_pixelcnn", "hidden_channels": 16, "num_layers": 4, "kernel_size": 3,
                             "first_kernel_size": 7, "output_channels": 32, "conditioning": "onehot"},
    # PixelCNN++ (Salimans et al., ICLR 2017): 5 ResNet blocks per stage, 160 filters, 10 logistic mixtures,
    # dropout 0.5 (CIFAR-10), weight normalisation with data-dependent initialisation (the authors' code). Ours: the
    # small one.
    "pixelcnn-pp-cifar10": {"name": "pixelcnn_pp", "hidden_channels": 160, "num_layers": 5, "num_mixtures": 10,
                            "dropout": 0.5, "weight_norm": True},
    "pixelcnn-pp-small": {"name": "pixelcnn_pp", "hidden_channels": 40, "num_layers": 1, "num_mixtures": 5,
                          "dropout": 0.0},
}

# The PixelRNN paper's networks as the paper states them (§4), as opposed to our small presets.
PIXELRNN_PAPER_PRESETS = ("pixelcnn-cifar10", "pixelcnn-mnist", "row-lstm-cifar10", "diagonal-bilstm-cifar10",
                          "row-lstm-mnist", "diagonal-bilstm-mnist")

# Training settings of single presets, over their family's ``training_defaults``: the PixelRNN paper trains all
# its models, the PixelCNN included, with RMSProp (§4), at batch 16 on CIFAR-10 (we use 16 on binarized MNIST
# too: not stated). The learning rate and gradient clipping are ours, not the paper's.
PRESET_TRAINING: dict[str, dict[str, Any]] = {name: {**PAPER_RMSPROP, "batch_size": 16}
                                              for name in PIXELRNN_PAPER_PRESETS}
