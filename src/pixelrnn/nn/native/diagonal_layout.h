// The Diagonal BiLSTM's layout passes (PixelRNN §3.2), fused with its native loop (diagonal_lstm.cpp).
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>

// The layer's layout passes, fused with the loop: a raster map (B, C', H·W) to each direction's pixels in diagonal
// order (2, C', N), and each direction's (2, h, N) hidden states to their sum in raster order (B, h, H·W).
// ``reads`` (2, H·W): the raster position that direction d's p-th diagonal position reads; ``writes`` (2, H·W): the
// diagonal position whose state raster position q takes from direction d, or H·W for none (zeros).
namespace pixelrnn_native {

template <typename scalar_t>
void to_diagonal_order(const scalar_t* raster, const int64_t* reads, scalar_t* diagonal, int64_t batch,
                       int64_t channels, int64_t positions, bool accumulate_into_raster) {
  // accumulate_into_raster: the transpose, raster[b, c, reads[d, p]] += diagonal[d, c, p·B + b]
  at::parallel_for(0, channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      for (int64_t d = 0; d < 2; ++d) {
        scalar_t* column = diagonal + (d * channels + c) * positions * batch;
        const int64_t* order = reads + d * positions;
        for (int64_t b = 0; b < batch; ++b) {  // image by image: one raster row of H·W, the column (L2) strided
          scalar_t* image = const_cast<scalar_t*>(raster) + (b * channels + c) * positions;
          for (int64_t p = 0; p < positions; ++p) {
            if (!accumulate_into_raster) {
              column[p * batch + b] = image[order[p]];
            } else {
              image[order[p]] = d == 0 ? column[p * batch + b] : image[order[p]] + column[p * batch + b];
            }
          }
        }
      }
    }
  });
}

template <typename scalar_t>
void to_raster_order(scalar_t* raster, const int64_t* writes, scalar_t* diagonal, int64_t batch, int64_t hidden,
                     int64_t positions, bool transpose) {
  // transpose: the backward, diagonal[d, k, writes[d, q]·B + b] = raster[b, k, q] (zero where nothing is written)
  at::parallel_for(0, hidden, 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      for (int64_t d = 0; d < 2; ++d) {
        scalar_t* column = diagonal + (d * hidden + k) * positions * batch;
        const int64_t* order = writes + d * positions;
        if (transpose) std::fill_n(column, positions * batch, scalar_t(0));
        for (int64_t b = 0; b < batch; ++b) {  // image by image, as in to_diagonal_order
          scalar_t* image = raster + (b * hidden + k) * positions;
          for (int64_t q = 0; q < positions; ++q) {
            const int64_t position = order[q];
            if (transpose) {
              if (position < positions) column[position * batch + b] = image[q];
            } else {
              const scalar_t state = position < positions ? column[position * batch + b] : scalar_t(0);
              image[q] = d == 0 ? state : image[q] + state;
            }
          }
        }
      }
    }
  });
}

}  // namespace pixelrnn_native

