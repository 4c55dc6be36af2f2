"""The Inception-v3 network of the Fréchet Inception Distance, as the FID literature uses it.

FID (Heusel et al., *GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium*, NeurIPS
2017) compares 2048-d pool features of the TensorFlow Inception graph of 2015-12-05. pytorch-fid
(github.com/mseitzer/pytorch-fid) ported that graph to PyTorch; this is our own implementation of the same
architecture, with parameter names equal to the keys of its weight file, so that file loads as it is. The graph
differs from torchvision's Inception-v3 in the pools: the average pools of the A, C and first E blocks leave the
zero padding out of the average (``count_include_pad=False``) and the last E block max-pools its pool branch.

Shapes, for one 299×299 input (every line (B, channels, height, width)):

    Conv2d_1a_3x3 stride 2 → 2a → 2b → max pool 3/2      (B, 64, 73, 73)
    Conv2d_3b_1x1 → Conv2d_4a_3x3 → max pool 3/2         (B, 192, 35, 35)
    Mixed_5b, 5c, 5d (A)                                 (B, 256 / 288 / 288, 35, 35)
    Mixed_6a (reduction B)                               (B, 768, 17, 17)
    Mixed_6b … 6e (C, 7×7 factorised)                    (B, 768, 17, 17)
    Mixed_7a (reduction D)                               (B, 1280, 8, 8)
    Mixed_7b, 7c (E)                                     (B, 2048, 8, 8)
    global average pool                                  (B, 2048)

Every convolution is bias-free and followed by BatchNorm (eps 0.001) and a ReLU (:class:`ConvBN`).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pixelrnn.errors import CheckpointError, ConfigError
from pixelrnn.io import load_weights_only

FID_WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                   "pt_inception-2015-12-05-6726825d.pth")
INPUT_SIZE = 299  # the network's native resolution; every input is resized to it
NUM_FEATURES = 2048
IGNORED_PREFIX = "fc."  # the weight file's 1008-class classifier, which FID does not use


class ConvBN(nn.Module):
    """Bias-free convolution → BatchNorm (eps 0.001) → ReLU; ``conv`` and ``bn`` name the weight-file keys."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int = 1, padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _average_pool(x: torch.Tensor) -> torch.Tensor:
    """3×3 stride-1 average over the pixels inside the map only (the TF graph's ``count_include_pad=False``)."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35×35 block: 1×1, 5×5, double 3×3 and pool branches; in_channels → 224 + pool_channels."""

    def __init__(self, in_channels: int, pool_channels: int) -> None:
        super().__init__()
        self.branch1x1 = ConvBN(in_channels, 64, 1)
        self.branch5x5_1 = ConvBN(in_channels, 48, 1)
        self.branch5x5_2 = ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, padding=1)
        self.branch_pool = ConvBN(in_channels, pool_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        five = self.branch5x5_2(self.branch5x5_1(x))
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), five, double, self.branch_pool(_average_pool(x))], dim=1)


class ReductionB(nn.Module):
    """Mixed_6a: 35×35 → 17×17; in_channels → 384 + 96 + in_channels."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = ConvBN(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), double, F.max_pool2d(x, kernel_size=3, stride=2)], dim=1)


class InceptionC(nn.Module):
    """17×17 block with 7×7 convolutions factorised into 1×7 and 7×1; 768 → 768."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = ConvBN(in_channels, 192, 1)
        self.branch7x7_1 = ConvBN(in_channels, c7, 1)
        self.branch7x7_2 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = ConvBN(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = ConvBN(in_channels, c7, 1)
        self.branch7x7dbl_2 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = ConvBN(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = ConvBN(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seven = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        double = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            double = layer(double)
        return torch.cat([self.branch1x1(x), seven, double, self.branch_pool(_average_pool(x))], dim=1)


class ReductionD(nn.Module):
    """Mixed_7a: 17×17 → 8×8; in_channels → 320 + 192 + in_channels."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = ConvBN(in_channels, 192, 1)
        self.branch3x3_2 = ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBN(in_channels, 192, 1)
        self.branch7x7x3_2 = ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBN(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        three = self.branch3x3_2(self.branch3x3_1(x))
        seven = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([three, seven, F.max_pool2d(x, kernel_size=3, stride=2)], dim=1)


class InceptionE(nn.Module):
    """8×8 block with split 1×3 / 3×1 outputs; in_channels → 320 + 768 + 768 + 192 = 2048.

    Args:
        max_pool: the pool branch max-pools (Mixed_7c in the TF graph) instead of averaging (Mixed_7b).
    """

    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = ConvBN(in_channels, 320, 1)
        self.branch3x3_1 = ConvBN(in_channels, 384, 1)
        self.branch3x3_2a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBN(in_channels, 448, 1)
        self.branch3x3dbl_2 = ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBN(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        three = self.branch3x3_1(x)
        three = torch.cat([self.branch3x3_2a(three), self.branch3x3_2b(three)], dim=1)  # (B, 768, h, w)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        double = torch.cat([self.branch3x3dbl_3a(double), self.branch3x3dbl_3b(double)], dim=1)  # (B, 768, h, w)
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _average_pool(x)
        return torch.cat([self.branch1x1(x), three, double, self.branch_pool(pooled)], dim=1)


class FIDInceptionV3(nn.Module):
    """Inception-v3 up to its 2048-d pool features, with the FID graph's pools (see the module docstring).

    Attributes:
        num_features: 2048, the length of a feature vector (read by torchmetrics instead of probing the network).
    """

    num_features = NUM_FEATURES

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_channels=32)
        self.Mixed_5c = InceptionA(256, pool_channels=64)
        self.Mixed_5d = InceptionA(288, pool_channels=64)
        self.Mixed_6a = ReductionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = ReductionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Pool features of images: float (B, C, H, W) in [0, 1], C = 1 (grey, repeated) or 3 → (B, 2048).

        Any H×W is resized bilinearly to 299×299 and the values mapped to [−1, 1], as pytorch-fid does.
        """
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ConfigError(f"the Inception network takes (B, 1 or 3, H, W) images, got {tuple(images.shape)}")
        x = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images  # (B, 3, H, W)
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        x = 2 * x - 1  # (B, 3, 299, 299) in [-1, 1]
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # (B, 64, 73, 73)
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), kernel_size=3, stride=2)  # (B, 192, 35, 35)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return x.mean(dim=(2, 3))  # (B, 2048)


def load_fid_inception(path: str | Path | None) -> FIDInceptionV3:
    """The FID Inception network with pytorch-fid's weights (``pt_inception-2015-12-05-6726825d.pth``), in eval mode.

    The file is read with ``weights_only=True``. Its ``fc.*`` keys (the 1008-class classifier) are ignored; any
    other missing, extra or misshapen tensor is an error. ``num_batches_tracked`` counters, which carry no weights,
    may be absent.

    Raises:
        CheckpointError: no path, a missing or unreadable file, or tensors that do not fit the network.
    """
    if path is None or not Path(path).is_file():
        where = f"not found: {path}" if path is not None else "needed"
        raise CheckpointError(f"the FID Inception weights are {where}; download {FID_WEIGHTS_URL} (no download "
                              "happens here) and pass the file with --feature-weights PATH")
    weights = load_weights_only(path, "weight file")
    if not isinstance(weights, dict):
        raise CheckpointError(f"{path} is not a state dict of the FID Inception network")
    network = FIDInceptionV3()
    weights = {key: value for key, value in weights.items() if not str(key).startswith(IGNORED_PREFIX)}
    _check_weights_fit(network, weights, path)
    network.load_state_dict(weights, strict=False)  # only num_batches_tracked may be missing (checked above)
    return network.eval()


def _check_weights_fit(network: nn.Module, weights: dict, path: str | Path) -> None:
    """CheckpointError naming the first missing, unexpected or misshapen tensor of ``weights``."""
    expected = network.state_dict()
    missing = [key for key in expected if key not in weights and not key.endswith("num_batches_tracked")]
    unexpected = [key for key in weights if key not in expected]
    misshapen = [key for key in expected if key in weights and (not isinstance(weights[key], torch.Tensor)
                                                                or weights[key].shape != expected[key].shape)]
    problems = [f"{len(keys)} {what} (first: {keys[0]})" for keys, what in
                ((missing, "missing"), (unexpected, "unexpected"), (misshapen, "misshapen")) if keys]
    if problems:
        raise CheckpointError(f"{path} does not hold the FID Inception weights: {'; '.join(problems)} "
                              f"(expected {Path(FID_WEIGHTS_URL).name})")
