// The Diagonal BiLSTM's layout passes (PixelRNN §3.2), fused with its native loop (diagonal_lstm.cpp): the map into and
// out of diagonal order, the neighbours each step reads, and the routing of their gradients back.
#pragma once

#include <ATen/Parallel.h>

#include "lstm_cell.h"  // for_units

#include <algorithm>
#include <cstdint>

// The layer's layout passes, fused with the loop: a raster map (B, C', H·W) to each direction's pixels in diagonal
// order (2, C', N), and each direction's (2, h, N) hidden states to their sum in raster order (B, h, H·W).
// ``reads`` (2, H·W): the raster position that direction d's p-th diagonal position reads; ``writes`` (2, H·W): the
// diagonal position whose state raster position q takes from direction d, or H·W for none (zeros).
namespace pixelrnn_native {

struct Step {
  int64_t rows, advance, column;  // the diagonal's row count, its first row's rise, its first column in N
};

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

// Step s's [above | left] hidden states (2, 2h, n·B), written into columns [column, column + n·B) of the
// (2, 2h, N) neighbours, and its left cell states into those of the (2, h, N) ``left``. Row q of the previous
// diagonal's [start, rows, start] is index q; this step's row r reads index advance + r above it and
// advance + r + 1 to its left.
template <typename scalar_t, typename product_t>
void gather_neighbours(int64_t d, const Step& step, const Step* previous, int64_t batch, int64_t hidden,
                       int64_t columns, const scalar_t* hidden_states, const scalar_t* cells,
                       const scalar_t* start_hidden, const scalar_t* start_memory, product_t* neighbours,
                       scalar_t* left) {
  const int64_t previous_rows = previous ? previous->rows : 0;
  for_units(hidden, step.rows * batch, [&](int64_t k) {
    const int64_t unit = d * hidden + k;
    const scalar_t* start_h = start_hidden + unit * batch;
    const scalar_t* start_c = start_memory + unit * batch;
    auto hidden_row = [&](int64_t index) {  // index in [start, previous rows, start]
      return (index == 0 || index > previous_rows) ? start_h
                                                   : hidden_states + unit * columns + previous->column +
                                                         (index - 1) * batch;
    };
    product_t* above = neighbours + (d * 2 * hidden + k) * columns + step.column;
    product_t* left_hidden = above + hidden * columns;
    scalar_t* left_cell = left + unit * columns + step.column;
    for (int64_t r = 0; r < step.rows; ++r) {
      std::copy_n(hidden_row(step.advance + r), batch, above + r * batch);
      std::copy_n(hidden_row(step.advance + r + 1), batch, left_hidden + r * batch);
      const int64_t source = step.advance + r;  // the previous diagonal's row to the left of row r
      const scalar_t* cell = source < previous_rows ? cells + unit * columns + previous->column + source * batch
                                                    : start_c;
      std::copy_n(cell, batch, left_cell + r * batch);
    }
  });
}

// One unit's gradients w.r.t. step s's above / left hidden states and left cells (n·B each) routed to the previous
// diagonal's n'·B states (``carry_hidden``, ``carry_memory``, overwritten) and to the start state's (B, added).
template <typename scalar_t, typename product_t>
void route_to_previous(const Step& step, int64_t previous_rows, int64_t batch, const product_t* d_above,
                       const product_t* d_left_hidden, const scalar_t* d_left_cell, scalar_t* carry_hidden,
                       scalar_t* carry_memory, scalar_t* start_hidden, scalar_t* start_memory) {
  std::fill_n(carry_hidden, previous_rows * batch, scalar_t(0));
  std::fill_n(carry_memory, previous_rows * batch, scalar_t(0));
  auto add = [batch](scalar_t* to, const auto* from) {
    for (int64_t b = 0; b < batch; ++b) to[b] += static_cast<scalar_t>(from[b]);
  };
  auto hidden_row = [&](int64_t index) {  // index in [start, previous rows, start]
    return (index == 0 || index > previous_rows) ? start_hidden : carry_hidden + (index - 1) * batch;
  };
  for (int64_t r = 0; r < step.rows; ++r) {
    add(hidden_row(step.advance + r), d_above + r * batch);
    add(hidden_row(step.advance + r + 1), d_left_hidden + r * batch);
    const int64_t source = step.advance + r;  // the previous diagonal's row to the left of row r
    add(source < previous_rows ? carry_memory + source * batch : start_memory, d_left_cell + r * batch);
  }
}

}  // namespace pixelrnn_native

