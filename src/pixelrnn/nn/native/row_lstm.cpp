// The Row LSTM's LSTM recurrence (PixelRNN, van den Oord et al. 2016, §3.1) as one native loop per layer.
//
// Row r's gates are its input-to-state pre-activations (computed for the whole map beforehand, as a masked 1×k
// convolution) plus the state-to-state 1×k convolution of row r − 1's hidden state, taken as one
// (4h, h·k) × (h·k, B·W) product over the previous row's k shifted copies ("taps"); then the cell's fused
// element-wise pass (lstm_cell.h). The backward runs the rows in reverse; the input pre-activations' gradient is
// the gates' gradient itself, and the kernel's is one batched product over every row after the loop. Layout:
// rows_input (H, 4h, B·W), each image row's W columns one run, gates ordered o, f, i, g.
//
// Mixed precision (bfloat16 autocast): given bfloat16 rows_input and weight, the products take bfloat16 operands —
// the taps of the previous row's hidden state and the gate gradients — while the gates, cells and hidden states,
// the cell's element-wise passes and the carried gradients stay float32 (``scalar_t``; ``product_t`` is the
// products' type), as in diagonal_lstm.cpp.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include "lstm_cell.h"

#include <vector>

namespace {

using at::Tensor;
using pixelrnn_native::cell_backward;
using pixelrnn_native::cell_forward;
using pixelrnn_native::for_units;
using pixelrnn_native::with_product_type;

// taps (h·k, B·W): row c·k + t holds channel c of ``hidden`` (h, B·W) at column j + t − k/2 of the same image row
// (zero beyond its ends), in the products' type.
template <typename scalar_t, typename product_t>
void gather_taps(const scalar_t* hidden_state, product_t* taps, int64_t hidden, int64_t kernel, int64_t images,
                 int64_t width) {
  const int64_t columns = images * width, half = kernel / 2;
  for_units(hidden, columns, [&](int64_t c) {
    for (int64_t t = 0; t < kernel; ++t) {
      product_t* out = taps + (c * kernel + t) * columns;
      const scalar_t* in = hidden_state + c * columns;
      const int64_t shift = t - half;
      for (int64_t b = 0; b < images; ++b) {
        for (int64_t j = 0; j < width; ++j) {
          const int64_t source = j + shift;
          out[b * width + j] = (source >= 0 && source < width) ? product_t(in[b * width + source]) : product_t(0);
        }
      }
    }
  });
}

// The transpose of gather_taps: hidden (h, B·W) = Σ_t taps row c·k + t moved back by t − k/2 (overwritten), summed
// in the states' type.
template <typename scalar_t, typename product_t>
void scatter_taps(const product_t* taps, scalar_t* hidden_state, int64_t hidden, int64_t kernel, int64_t images,
                  int64_t width) {
  const int64_t columns = images * width, half = kernel / 2;
  for_units(hidden, columns, [&](int64_t c) {
    scalar_t* out = hidden_state + c * columns;
    std::fill_n(out, columns, scalar_t(0));
    for (int64_t t = 0; t < kernel; ++t) {
      const product_t* in = taps + (c * kernel + t) * columns;
      const int64_t shift = t - half;
      for (int64_t b = 0; b < images; ++b) {
        for (int64_t j = 0; j < width; ++j) {
          const int64_t source = j + shift;
          if (source >= 0 && source < width) out[b * width + source] += static_cast<scalar_t>(in[b * width + j]);
        }
      }
    }
  });
}

}  // namespace

// Forward. rows_input (H, 4h, B·W) and weight (4h, h·k) (column c·k + t: channel c at tap t), both float32 /
// float64 or both bfloat16 (the products' type); start_hidden and start_memory (h, B·W): row −1's state, in the
// states' type. Returns the hidden states (H, h, B·W) and, for the backward, the activations (H, 4h, B·W), the taps
// (H, h·k, B·W) (in the products' type), tanh of the cells and the cells (H, h, B·W).
std::vector<Tensor> row_lstm_forward(const Tensor& rows_input, const Tensor& weight, const Tensor& start_hidden,
                                     const Tensor& start_memory, int64_t images, int64_t width) {
  const int64_t height = rows_input.size(0), hidden = start_hidden.size(0), columns = rows_input.size(2);
  const int64_t kernel = weight.size(1) / hidden;
  TORCH_CHECK(columns == images * width && weight.size(1) == hidden * kernel, "row_lstm_forward: shapes");
  TORCH_CHECK(weight.scalar_type() == rows_input.scalar_type(), "rows_input and weight share the products' type");
  const auto states = start_hidden.options();
  const bool mixed = rows_input.scalar_type() != start_hidden.scalar_type();  // bfloat16 products, float32 states
  TORCH_CHECK(!mixed || (rows_input.scalar_type() == at::kBFloat16 && start_hidden.scalar_type() == at::kFloat),
              "mixed precision takes bfloat16 products and float32 states");
  Tensor activations = mixed ? rows_input.contiguous().to(states.dtype()) : rows_input.contiguous().clone();
  Tensor taps = at::empty({height, hidden * kernel, columns}, rows_input.options());
  Tensor tanh_cell = at::empty({height, hidden, columns}, states);
  Tensor cells = at::empty_like(tanh_cell), hidden_states = at::empty_like(tanh_cell);
  Tensor from_state = at::empty({4 * hidden, columns}, rows_input.options());
  const Tensor start_h = start_hidden.contiguous(), start_c = start_memory.contiguous(), w = weight.contiguous();
  AT_DISPATCH_FLOATING_TYPES(start_hidden.scalar_type(), "row_lstm_forward", [&] {
    auto loop = [&](auto product_zero) {
      using product_t = decltype(product_zero);
      for (int64_t r = 0; r < height; ++r) {
        const scalar_t* previous_hidden =
            r ? hidden_states[r - 1].data_ptr<scalar_t>() : start_h.data_ptr<scalar_t>();
        const scalar_t* previous_cell = r ? cells[r - 1].data_ptr<scalar_t>() : start_c.data_ptr<scalar_t>();
        gather_taps<scalar_t, product_t>(previous_hidden, taps[r].data_ptr<product_t>(), hidden, kernel, images,
                                         width);
        at::mm_out(from_state, w, taps[r]);
        scalar_t* a = activations[r].data_ptr<scalar_t>();
        const product_t* fs = from_state.data_ptr<product_t>();
        scalar_t* t = tanh_cell[r].data_ptr<scalar_t>();
        scalar_t* c = cells[r].data_ptr<scalar_t>();
        scalar_t* h = hidden_states[r].data_ptr<scalar_t>();
        const int64_t gate = hidden * columns;
        for_units(hidden, columns, [&](int64_t k) {
          const int64_t unit = k * columns;
          cell_forward<scalar_t, product_t>(a + unit, a + gate + unit, a + 2 * gate + unit, a + 3 * gate + unit,
                                            fs + unit, fs + gate + unit, fs + 2 * gate + unit, fs + 3 * gate + unit,
                                            nullptr, 0, previous_cell + unit, t + unit, c + unit, h + unit, columns);
        });
      }
    };
    with_product_type<scalar_t>(mixed, loop);
  });
  return {hidden_states, activations, taps, tanh_cell, cells};
}

// Backward of the forward above, given grad_hidden (H, h, B·W) and start_memory (in the states' type), the weight
// (in the products' type) and what the forward returned. Returns the gradients of rows_input (H, 4h, B·W) and weight
// (4h, h·k) in the products' type, and of start_hidden and start_memory (h, B·W) in the states' type.
std::vector<Tensor> row_lstm_backward(const Tensor& grad_hidden_in, const Tensor& weight, const Tensor& start_memory,
                                      const Tensor& activations, const Tensor& taps, const Tensor& tanh_cell,
                                      const Tensor& cells, int64_t images, int64_t width) {
  const int64_t height = activations.size(0), hidden = tanh_cell.size(1), columns = activations.size(2);
  const int64_t kernel = weight.size(1) / hidden;
  const bool mixed = taps.scalar_type() != activations.scalar_type();  // bfloat16 products, float32 states
  const Tensor grad_hidden = grad_hidden_in.contiguous().to(activations.scalar_type());
  const Tensor start_c = start_memory.contiguous();
  const Tensor weight_t = weight.t().contiguous();  // (h·k, 4h)
  Tensor d_gates = at::empty(activations.sizes(), taps.options());  // in the products' type
  Tensor carry_hidden = at::zeros({hidden, columns}, activations.options());  // from row r + 1 to row r
  Tensor carry_memory = at::zeros_like(carry_hidden), d_left = at::empty_like(carry_hidden);
  Tensor d_taps = at::empty({hidden * kernel, columns}, taps.options());
  AT_DISPATCH_FLOATING_TYPES(activations.scalar_type(), "row_lstm_backward", [&] {
    auto loop = [&](auto product_zero) {
      using product_t = decltype(product_zero);
      for (int64_t r = height - 1; r >= 0; --r) {
        const scalar_t* a = activations[r].data_ptr<scalar_t>();
        const scalar_t* left = r ? cells[r - 1].data_ptr<scalar_t>() : start_c.data_ptr<scalar_t>();
        const scalar_t* t = tanh_cell[r].data_ptr<scalar_t>();
        const scalar_t* dh = grad_hidden[r].data_ptr<scalar_t>();
        product_t* dg = d_gates[r].data_ptr<product_t>();
        scalar_t* ch = carry_hidden.data_ptr<scalar_t>();
        scalar_t* cm = carry_memory.data_ptr<scalar_t>();
        scalar_t* dl = d_left.data_ptr<scalar_t>();
        const int64_t gate = hidden * columns;
        for_units(hidden, columns, [&](int64_t k) {
          const int64_t unit = k * columns;
          cell_backward<scalar_t, product_t>(a + unit, a + gate + unit, a + 2 * gate + unit, a + 3 * gate + unit,
                                             t + unit, left + unit, dh + unit, ch + unit, cm + unit, dg + unit,
                                             dg + gate + unit, dg + 2 * gate + unit, dg + 3 * gate + unit, dl + unit,
                                             columns);
        });
        at::mm_out(d_taps, weight_t, d_gates[r]);
        scatter_taps<scalar_t, product_t>(d_taps.data_ptr<product_t>(), ch, hidden, kernel, images, width);
        std::swap(carry_memory, d_left);
      }
    };
    with_product_type<scalar_t>(mixed, loop);
  });
  const int64_t over_rows[] = {0};  // (4h, h·k): each row's product, summed over the rows in the states' type
  Tensor grad_weight = at::bmm(d_gates, taps.transpose(1, 2)).sum(over_rows, false, activations.scalar_type());
  return {d_gates, grad_weight.to(weight.scalar_type()), carry_hidden, carry_memory};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &row_lstm_forward, "the Row LSTM recurrence, forward");
  m.def("backward", &row_lstm_backward, "the Row LSTM recurrence, backward");
}
