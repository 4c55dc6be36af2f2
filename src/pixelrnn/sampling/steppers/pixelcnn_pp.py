"""Incremental PixelCNN++: every activation of the U-Net is computed once, when the pixels it reads are final.

The network (:mod:`pixelrnn.models.pixelcnn_pp`) has two streams at three resolutions (full, 1/2, 1/4). Cached maps
of every block's hidden and output activations hold what earlier pixels computed; at pixel (i, j):

- the u stream (vertical) of row i reads only rows above i, at every stage and on the way up too: it is computed
  a whole row at a time when pixel (i, 0) is reached — full resolution row i; row i/2 of the 1/2 stage when i is
  even; row i/4 of the 1/4 stage when 4 divides i (a stride-2 convolution's row r reads rows 2r − 1 and 2r; a
  transposed one's row 2q and 2q + 1 read row q);
- the ul stream (vertical and left) is computed at single positions: (i, j) at full resolution, (i/2, j/2) of
  the 1/2 stage when i and j are even, (i/4, j/4) when 4 divides both. Stride-2 convolutions at (r, c) read the
  finer map at (2r − 1 … 2r, 2c − 1 … 2c), which pixel (2r, 2c) has just completed; the transposed ones give
  (i, j) from (i/2, j/2) alone, computed at pixel (2⌊i/2⌋, 2⌊j/2⌋), which comes no later than (i, j).

Each value equals the full network's, since every value it reads is final when it is computed; the tests check
that the sampler draws exactly the plain sampler's images from the same random numbers. The work per image is
about one network pass (the plain sampler does H·W of them). Dropout is off: samplers run in evaluation mode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pixelrnn.models.pixelcnn_pp import NUM_STAGES, PixelCNNPlusPlus
from pixelrnn.nn.shifted_conv import GatedResnet, concat_elu
from pixelrnn.sampling.steppers.common import Convolutions, Stepper, window


def _same(x: torch.Tensor) -> torch.Tensor:
    return x


class _Site:
    """Where values are computed: one row of a map (all columns), or one position. Values are (B, C, 1, w)."""

    def __init__(self, convs: Convolutions, row: int, col: int | None = None) -> None:
        self.convs, self.row, self.col = convs, row, col

    def read(self, maps: torch.Tensor) -> torch.Tensor:
        """The site's values of (B, C, h, w) maps: (B, C, 1, w) for a row, (B, C, 1, 1) for a position."""
        if self.col is None:
            return maps[:, :, self.row:self.row + 1]
        return maps[:, :, self.row:self.row + 1, self.col:self.col + 1]

    def write(self, maps: torch.Tensor, values: torch.Tensor) -> None:
        if self.col is None:
            maps[:, :, self.row] = values[:, :, 0]
        else:
            maps[:, :, self.row, self.col] = values[:, :, 0, 0]

    def conv(self, shifted: nn.Module, maps: torch.Tensor, stride: int = 1, transform=concat_elu) -> torch.Tensor:
        """A (down-right-)shifted convolution of ``transform(maps)`` at the site; ``stride`` 2 halves the map."""
        conv = shifted.conv
        (kh, kw), (left, right, top, _) = conv.kernel_size, shifted.padding
        first_row = self.row * stride - top
        if self.col is None:
            width = maps.shape[-1]
            rows = window(maps, (first_row, first_row + kh), (-left, width + right))  # (B, C, kh, W + pad)
            return F.conv2d(transform(rows), conv.weight, conv.bias, stride=(1, stride))  # (B, out, 1, W/stride)
        first_col = self.col * stride - left
        patch = window(maps, (first_row, first_row + kh), (first_col, first_col + kw))  # (B, C, kh, kw)
        return self.convs.pointwise(conv, transform(patch).flatten(1))[:, :, None, None]  # (B, out, 1, 1)

    def nin(self, conv: nn.Conv2d, values: torch.Tensor) -> torch.Tensor:
        """A 1×1 convolution of concat_elu(values): (B, C, 1, w) → (B, out, 1, w)."""
        if self.col is None:
            return F.conv2d(concat_elu(values), conv.weight, conv.bias)
        return self.convs.pointwise(conv, concat_elu(values)[:, :, 0, 0])[:, :, None, None]

    def upsample(self, transposed: nn.Module, coarse: torch.Tensor) -> torch.Tensor:
        """A stride-2 transposed shifted convolution at the site, from the coarse map's row or position / 2."""
        conv = transposed.conv
        if self.col is None:
            width = 2 * coarse.shape[-1]
            both_rows = conv(coarse[:, :, self.row // 2:self.row // 2 + 1])  # (B, out, 2, 2w + kw − 2)
            return both_rows[:, :, self.row % 2:self.row % 2 + 1, transposed.left:transposed.left + width]
        source = coarse[:, :, self.row // 2, self.col // 2]  # (B, in)
        tap = conv.weight[:, :, self.row % 2, self.col % 2]  # (in, out): the kernel entry that reaches the site
        return (source @ tap + conv.bias)[:, :, None, None]  # (B, out, 1, 1)


class PixelCNNPlusPlusStepper(Stepper):
    """Incremental evaluation of a :class:`PixelCNNPlusPlus`: ``params_at`` returns the (B, P) mixture parameters.

    Args:
        model: the PixelCNN++ (evaluation mode).
        batch: B, the number of images.
        labels: int64 (B,) for a class-conditional model, else None.
    """

    steps = PixelCNNPlusPlus

    def __init__(self, model: PixelCNNPlusPlus, batch: int, labels: torch.Tensor | None = None) -> None:
        self.model, self.unet, self.convs = model, model.unet, Convolutions()
        channels, height, width = model.config.image_shape
        reference = next(model.parameters())
        filters = self.unet.output[1].in_channels

        def maps(stage: int, count: int = filters) -> torch.Tensor:
            return reference.new_zeros(batch, count, height >> stage, width >> stage)

        self.padded = maps(0, channels + 1)  # [x, 1] of the finished pixels, zeros elsewhere
        # per stream, the input of every stage and each block's hidden and output maps, down then up
        self.maps = {stream: {"down_in": [maps(s) for s in range(NUM_STAGES)],
                              "up_in": [None] + [maps(NUM_STAGES - 1 - s) for s in range(1, NUM_STAGES)]}
                     for stream in ("u", "ul")}
        for stream in ("u", "ul"):
            for direction, stages in (("down", self.unet.down_u), ("up", self.unet.up_u)):
                resolution = [s if direction == "down" else NUM_STAGES - 1 - s for s in range(NUM_STAGES)]
                for kind in ("hidden", "out"):
                    self.maps[stream][f"{direction}_{kind}"] = [
                        [maps(resolution[s]) for _ in blocks] for s, blocks in enumerate(stages)]
        for stream in ("u", "ul"):  # the up pass starts from the last down map itself
            self.maps[stream]["up_in"][0] = self.maps[stream]["down_out"][-1][-1]
        self.skips = self._skip_maps()
        conditioning = self.unet.conditioning
        self.codes = conditioning(labels) if conditioning is not None and labels is not None else None

    def _skip_maps(self) -> dict[str, list[list[torch.Tensor]]]:
        """The shortcut map of every up block, per stream: the down maps popped last-in first-out, as the net does."""
        skips = {}
        for stream, maps in self.maps.items():
            stored = [maps["down_in"][0]]
            for stage in range(NUM_STAGES):
                stored += ([maps["down_in"][stage]] if stage else []) + maps["down_out"][stage]
            stored.pop()  # the up pass starts from the last down map
            skips[stream] = [[stored.pop() for _ in blocks] for blocks in maps["up_out"]]
        return skips

    def params_at(self, images: torch.Tensor, row: int, col: int) -> torch.Tensor:
        """The mixture parameters (B, P) of pixel (row, col); the pixels before it in ``images`` must be final."""
        if col == 0:
            self._store_pixels(images, row - 1, slice(None))
            self._u_stream(row)
        else:
            self._store_pixels(images, row, slice(col - 1, col))
        self._ul_stream(row, col)
        ul = self.maps["ul"]["up_out"][-1][-1][:, :, row, col]  # (B, F)
        return self.convs.pointwise(self.unet.output[1], F.elu(ul))  # (B, P)

    def _store_pixels(self, images: torch.Tensor, row: int, cols: slice) -> None:
        if row >= 0:
            values = self.model.preprocess(images[:, :, row, cols]).to(self.padded.dtype)  # (B, C, w)
            self.padded[:, :-1, row, cols], self.padded[:, -1, row, cols] = values, 1.0

    def _u_stream(self, row: int) -> None:
        """Row ``row`` (and the coarser rows it completes) of every u map, down then up."""
        unet = self.unet
        for stage in range(NUM_STAGES):
            if row % (1 << stage) == 0:
                site = _Site(self.convs, row >> stage)
                if stage == 0 and row:  # down-shifted: the input convolution at row − 1 (row 0 stays zero)
                    above = _Site(self.convs, row - 1).conv(unet.u_input, self.padded, transform=_same)
                    site.write(self.maps["u"]["down_in"][0], above)
                elif stage:
                    finer = self.maps["u"]["down_out"][stage - 1][-1]
                    site.write(self.maps["u"]["down_in"][stage], site.conv(unet.downsample_u[stage - 1], finer, 2,
                                                                           _same))
                self._blocks(site, "u", "down", stage)
        self._up(lambda resolution: row % (1 << resolution) == 0,
                 lambda resolution: _Site(self.convs, row >> resolution), "u")

    def _ul_stream(self, row: int, col: int) -> None:
        """Every ul map at the positions that pixel (row, col) completes, down then up."""
        unet = self.unet
        for stage in range(NUM_STAGES):
            if row % (1 << stage) == 0 and col % (1 << stage) == 0:
                site = _Site(self.convs, row >> stage, col >> stage)
                if stage == 0:
                    site.write(self.maps["ul"]["down_in"][0], self._ul_input(row, col))
                else:
                    finer = self.maps["ul"]["down_out"][stage - 1][-1]
                    site.write(self.maps["ul"]["down_in"][stage],
                               site.conv(unet.downsample_ul[stage - 1], finer, 2, _same))
                self._blocks(site, "ul", "down", stage)
        self._up(lambda resolution: row % (1 << resolution) == 0 and col % (1 << resolution) == 0,
                 lambda resolution: _Site(self.convs, row >> resolution, col >> resolution), "ul")

    def _ul_input(self, row: int, col: int) -> torch.Tensor:
        """The first ul map at (row, col): the 1×3 row above, down-shifted, plus the 2×1 column, right-shifted."""
        above = _Site(self.convs, row - 1, col).conv(self.unet.ul_input_above, self.padded, transform=_same)
        left = _Site(self.convs, row, col - 1).conv(self.unet.ul_input_left, self.padded, transform=_same)
        return above * (row > 0) + left * (col > 0)  # (B, F, 1, 1); the shifts bring zeros, not biases

    def _up(self, completes, site_at, stream: str) -> None:
        """The up pass of one stream at the sites that the current pixel completes, coarse to fine."""
        maps = self.maps[stream]
        upsample = self.unet.upsample_u if stream == "u" else self.unet.upsample_ul
        for stage in range(NUM_STAGES):
            resolution = NUM_STAGES - 1 - stage
            if not completes(resolution):
                continue
            site = site_at(resolution)
            if stage:  # the first stage starts from the last down map, which ``up_in[0]`` is
                site.write(maps["up_in"][stage], site.upsample(upsample[stage - 1], maps["up_out"][stage - 1][-1]))
            self._blocks(site, stream, "up", stage)

    def _blocks(self, site: _Site, stream: str, direction: str, stage: int) -> None:
        """The gated ResNet blocks of one stage of one stream at ``site``, reading their shortcut inputs."""
        maps = self.maps[stream]
        blocks = getattr(self.unet, f"{direction}_{stream}")[stage]
        for index, block in enumerate(blocks):
            source = maps[f"{direction}_in"][stage] if index == 0 else maps[f"{direction}_out"][stage][index - 1]
            shortcut = self._shortcut(site, stream, direction, stage, index)
            hidden_map, out_map = maps[f"{direction}_hidden"][stage][index], maps[f"{direction}_out"][stage][index]
            site.write(out_map, self._block(site, block, source, hidden_map, shortcut))

    def _shortcut(self, site: _Site, stream: str, direction: str, stage: int, index: int) -> torch.Tensor | None:
        """A block's extra input: down ul reads u; up u reads its skip; up ul reads [u, its skip]."""
        u_out = self.maps["u"][f"{direction}_out"][stage][index]
        if direction == "down":
            return site.read(u_out) if stream == "ul" else None
        skip = site.read(self.skips[stream][stage][index])
        return skip if stream == "u" else torch.cat([site.read(u_out), skip], dim=1)  # (B, 2F, 1, w)

    def _block(self, site: _Site, block: GatedResnet, source: torch.Tensor, hidden_map: torch.Tensor,
               shortcut: torch.Tensor | None) -> torch.Tensor:
        """:class:`GatedResnet` at the site, its hidden map cached: (B, F, 1, w)."""
        hidden = site.conv(block.conv_in, source)  # (B, F, 1, w)
        if block.shortcut is not None and shortcut is not None:
            hidden = hidden + site.nin(block.shortcut, shortcut)
        site.write(hidden_map, hidden)
        gates = site.conv(block.conv_out, hidden_map)  # (B, 2F, 1, w)
        if self.codes is not None:
            gates = self.unet.conditioning.apply(gates, block.index, self.codes)
        value, gate = gates.chunk(2, dim=1)  # 2 × (B, F, 1, w)
        return site.read(source) + value * torch.sigmoid(gate)
