// The Diagonal BiLSTM's LSTM recurrence (PixelRNN, van den Oord et al. 2016, §3.2) as one native loop per layer.
//
// At the MNIST size (h = 16) a diagonal step is a few products of tens of thousands of numbers and a dozen
// element-wise passes; run as separate PyTorch operations each costs microseconds of dispatch, more than its
// arithmetic. Here a step is one product for the state-to-state part and one fused element-wise pass; the
// input-to-state part of every pixel is one product before the loop, and the backward's weight and pixel
// gradients are one product each after it. The layout is that of pixelrnn/nn/diagonal_lstm_recurrence.py:
// columns in diagonal order (each diagonal's rows one after another, each row's B images one run), both
// directions stacked in the leading dimension of 2, gates ordered o, f, i, g.
//
// Mixed precision (bfloat16 autocast): given bfloat16 pixels and weight, the products take bfloat16 operands — the
// pixels, the [above | left] states, the gate gradients — while the gates, cells and hidden states, the cell's
// element-wise passes and the carried gradients stay float32 (``scalar_t``; ``product_t`` is the products' type).
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include "diagonal_layout.h"
#include "lstm_cell.h"

#include <algorithm>
#include <array>
#include <vector>

namespace {

using at::Tensor;
using pixelrnn_native::cell_backward;
using pixelrnn_native::cell_forward;
using pixelrnn_native::for_units;
using pixelrnn_native::gather_neighbours;
using pixelrnn_native::route_to_previous;
using pixelrnn_native::Step;
using pixelrnn_native::to_diagonal_order;
using pixelrnn_native::to_raster_order;
using pixelrnn_native::with_product_type;

std::vector<Step> make_steps(const std::vector<int64_t>& rows, const std::vector<int64_t>& advances,
                             int64_t batch) {
  TORCH_CHECK(rows.size() == advances.size(), "one advance per step");
  std::vector<Step> steps;
  int64_t column = 0;
  for (size_t s = 0; s < rows.size(); ++s) {
    steps.push_back({rows[s], advances[s], column});
    column += rows[s] * batch;
  }
  return steps;
}

// out[d] = a[d] · b[d] for both directions, as two matrix products.
Tensor products(const Tensor& a, const Tensor& b) {
  return at::stack({at::mm(a.select(0, 0), b.select(0, 0)), at::mm(a.select(0, 1), b.select(0, 1))});
}

// The two directions' views of a (2, …) tensor, taken once rather than per step.
std::array<Tensor, 2> per_direction(const Tensor& both) { return {both.select(0, 0), both.select(0, 1)}; }

// Runs f(d) for both directions d: on two threads at once where PyTorch has two or three (each direction's small
// products then run on one thread: one fork per step instead of one per operation), one after the other where it
// has one or more than three (the products and for_units then use every thread).
template <typename F>
void for_directions(const F& f) {
  const int threads = at::get_num_threads();
  if (threads == 2 || threads == 3) {
    at::parallel_for(0, 2, 1, [&](int64_t begin, int64_t end) {
      for (int64_t d = begin; d < end; ++d) f(d);
    });
  } else {
    f(0), f(1);
  }
}

// The cell's element-wise pass over step s's columns of direction d, every unit: the activations (2, 4h, N) in place
// of the input-to-state pre-activations, to which the step's state-to-state part (4h, n·B) and the bias are added.
template <typename scalar_t, typename product_t>
void cell_step(int64_t d, const Step& step, int64_t hidden, int64_t columns, const Tensor& from_state,
               const Tensor& bias, const Tensor& activations, const Tensor& left, const Tensor& tanh_cell,
               const Tensor& cells, const Tensor& hidden_states) {
  const int64_t width = from_state.size(1);
  const product_t* fs = from_state.data_ptr<product_t>();
  const int64_t fs_unit = from_state.stride(0);
  for_units(hidden, width, [&](int64_t k) {
    scalar_t* a = activations.data_ptr<scalar_t>() + (d * 4 * hidden + k) * columns + step.column;
    const product_t* f = fs + k * fs_unit;
    const int64_t unit = (d * hidden + k) * columns + step.column;
    cell_forward<scalar_t, product_t>(a, a + hidden * columns, a + 2 * hidden * columns, a + 3 * hidden * columns,
                                      f, f + hidden * fs_unit, f + 2 * hidden * fs_unit, f + 3 * hidden * fs_unit,
                                      bias.data_ptr<scalar_t>() + d * 4 * hidden + k, hidden,
                                      left.data_ptr<scalar_t>() + unit, tanh_cell.data_ptr<scalar_t>() + unit,
                                      cells.data_ptr<scalar_t>() + unit, hidden_states.data_ptr<scalar_t>() + unit,
                                      width);
  });
}

// The backward's element-wise pass over step s's columns of direction d, every unit: the gate gradients (2, 4h, N),
// in the products' type, and the gradients of the left cells (d_left, (2, h, widest)), from the hidden states'
// gradient (2, h, N) and the carry (2, 2, h, widest) that the next diagonal sent back.
template <typename scalar_t, typename product_t>
void cell_backward_step(int64_t d, const Step& step, int64_t width, int64_t hidden, int64_t columns, int64_t widest,
                        const Tensor& activations, const Tensor& tanh_cell, const Tensor& left,
                        const Tensor& grad_hidden, const Tensor& carry, const Tensor& d_gates, const Tensor& d_left) {
  const scalar_t* carry_hidden = carry.data_ptr<scalar_t>();
  const scalar_t* carry_memory = carry_hidden + 2 * hidden * widest;
  for_units(hidden, width, [&](int64_t k) {
    const int64_t unit = (d * hidden + k) * columns + step.column, scratch = (d * hidden + k) * widest;
    const int64_t gate = (d * 4 * hidden + k) * columns + step.column, gate_stride = hidden * columns;
    const scalar_t* a = activations.data_ptr<scalar_t>() + gate;
    product_t* dg = d_gates.data_ptr<product_t>() + gate;
    cell_backward<scalar_t, product_t>(a, a + gate_stride, a + 2 * gate_stride, a + 3 * gate_stride,
                                       tanh_cell.data_ptr<scalar_t>() + unit, left.data_ptr<scalar_t>() + unit,
                                       grad_hidden.data_ptr<scalar_t>() + unit, carry_hidden + scratch,
                                       carry_memory + scratch, dg, dg + gate_stride, dg + 2 * gate_stride,
                                       dg + 3 * gate_stride, d_left.data_ptr<scalar_t>() + scratch, width);
  });
}

}  // namespace

// The first rows·width values of one direction's scratch row, as a (rows, width) matrix.
Tensor step_view(const Tensor& scratch, int64_t rows, int64_t width) {
  return scratch.narrow(0, 0, rows * width).view({rows, width});
}

// Forward. pixels (2, C', N), weight (2, 4h, C' + 2h) over [pixel | above | left] (both float32 / float64, or
// both bfloat16: the products' type), bias (2, 4h, 1), start_hidden / start_memory (2, h, 1, B) in the states' type.
// Returns hidden (2, h, N) and, for the backward, the activations (2, 4h, N), tanh of the cells (2, h, N), the left
// cells (2, h, N) (all in the states' type) and the [above | left] states (2, 2h, N) in the products' type.
std::vector<Tensor> diagonal_lstm_forward(const Tensor& pixels, const Tensor& weight, const Tensor& bias,
                                          const Tensor& start_hidden, const Tensor& start_memory,
                                          const std::vector<int64_t>& rows, const std::vector<int64_t>& advances,
                                          int64_t batch) {
  const int64_t hidden = start_hidden.size(1), channels = pixels.size(1), columns = pixels.size(2);
  const auto steps = make_steps(rows, advances, batch);
  TORCH_CHECK(steps.empty() || steps.back().column + steps.back().rows * batch == columns, "steps cover N");
  TORCH_CHECK(weight.scalar_type() == pixels.scalar_type(), "pixels and weight share the products' type");
  const auto states = start_hidden.options();
  const bool mixed = pixels.scalar_type() != start_hidden.scalar_type();  // bfloat16 products, float32 states
  TORCH_CHECK(!mixed || (pixels.scalar_type() == at::kBFloat16 && start_hidden.scalar_type() == at::kFloat),
              "mixed precision takes bfloat16 products and float32 states");
  const Tensor state_weight = weight.narrow(2, channels, 2 * hidden).contiguous();  // (2, 4h, 2h)
  Tensor activations = at::empty({2, 4 * hidden, columns}, pixels.options());  // the input-to-state part first
  for (int64_t d = 0; d < 2; ++d) {
    Tensor out_d = activations.select(0, d);
    at::mm_out(out_d, weight.select(0, d).narrow(1, 0, channels), pixels.select(0, d));  // the bias: in the cell
  }
  if (mixed) activations = activations.to(states.dtype());  // the cell writes float32 activations in place
  Tensor neighbours = at::empty({2, 2 * hidden, columns}, pixels.options());
  Tensor left = at::empty({2, hidden, columns}, states);
  Tensor tanh_cell = at::empty_like(left), cells = at::empty_like(left), hidden_states = at::empty_like(left);
  int64_t widest = 0;
  for (const auto& step : steps) widest = std::max(widest, step.rows * batch);
  Tensor from_state = at::empty({2, 4 * hidden * widest}, pixels.options());  // per direction, (4h, n·B)
  const Tensor start_h = start_hidden.contiguous(), start_c = start_memory.contiguous();
  const Tensor bias_values = bias.contiguous();  // (2, 4h, 1)
  const std::array<Tensor, 2> from_state_of = per_direction(from_state), state_weight_of = per_direction(state_weight),
                              neighbours_of = per_direction(neighbours);
  AT_DISPATCH_FLOATING_TYPES(start_hidden.scalar_type(), "diagonal_lstm_forward", [&] {
    auto loop = [&](auto product_zero) {
      using product_t = decltype(product_zero);
      for (size_t s = 0; s < steps.size(); ++s) {
        const Step& step = steps[s];
        const int64_t width = step.rows * batch;
        for_directions([&](int64_t d) {
          gather_neighbours<scalar_t, product_t>(d, step, s ? &steps[s - 1] : nullptr, batch, hidden, columns,
                                                 hidden_states.data_ptr<scalar_t>(), cells.data_ptr<scalar_t>(),
                                                 start_h.data_ptr<scalar_t>(), start_c.data_ptr<scalar_t>(),
                                                 neighbours.data_ptr<product_t>(), left.data_ptr<scalar_t>());
          Tensor step_from_state = step_view(from_state_of[d], 4 * hidden, width);
          at::mm_out(step_from_state, state_weight_of[d], neighbours_of[d].narrow(1, step.column, width));
          cell_step<scalar_t, product_t>(d, step, hidden, columns, step_from_state, bias_values, activations, left,
                                         tanh_cell, cells, hidden_states);
        });
      }
    };
    with_product_type<scalar_t>(mixed, loop);
  });
  return {hidden_states, activations, tanh_cell, left, neighbours};
}

// Backward of the forward above, given grad_hidden (2, h, N) and what the forward returned. Returns the gradients
// of pixels (2, C', N), weight (2, 4h, C' + 2h) (both in the products' type), bias (2, 4h, 1), start_hidden and
// start_memory (2, h, 1, B) (in the states' type).
std::vector<Tensor> diagonal_lstm_backward(const Tensor& grad_hidden_in, const Tensor& pixels, const Tensor& weight,
                                           const Tensor& activations, const Tensor& tanh_cell, const Tensor& left,
                                           const Tensor& neighbours, const std::vector<int64_t>& rows,
                                           const std::vector<int64_t>& advances, int64_t batch) {
  const int64_t hidden = tanh_cell.size(1), channels = pixels.size(1), columns = pixels.size(2);
  const auto steps = make_steps(rows, advances, batch);
  const auto states = tanh_cell.options();
  const bool mixed = pixels.scalar_type() != tanh_cell.scalar_type();  // bfloat16 products, float32 states
  const Tensor grad_hidden = grad_hidden_in.contiguous();
  const Tensor state_weight_t = weight.narrow(2, channels, 2 * hidden).transpose(1, 2).contiguous();  // (2, 2h, 4h)
  Tensor d_gates = at::empty({2, 4 * hidden, columns}, pixels.options());  // the products' type
  Tensor grad_start_hidden = at::zeros({2, hidden, 1, batch}, states);
  Tensor grad_start_memory = at::zeros_like(grad_start_hidden);
  int64_t widest = 0;
  for (const auto& step : steps) widest = std::max(widest, step.rows * batch);
  // the gradients reaching a diagonal's hidden and cell states from the next one, this step's and the previous
  Tensor carry = at::zeros({2, 2, hidden, widest}, states);
  Tensor d_left = at::empty({2, hidden, widest}, states);
  Tensor d_neighbours = at::empty({2, 2 * hidden * widest}, pixels.options());  // per direction, (2h, n·B)
  const std::array<Tensor, 2> d_neighbours_of = per_direction(d_neighbours), d_gates_of = per_direction(d_gates),
                              state_weight_t_of = per_direction(state_weight_t);
  AT_DISPATCH_FLOATING_TYPES(tanh_cell.scalar_type(), "diagonal_lstm_backward", [&] {
    auto loop = [&](auto product_zero) {
      using product_t = decltype(product_zero);
      for (int64_t s = static_cast<int64_t>(steps.size()) - 1; s >= 0; --s) {
        const Step& step = steps[s];
        const int64_t width = step.rows * batch;
        scalar_t* carry_hidden = carry.data_ptr<scalar_t>();
        scalar_t* carry_memory = carry_hidden + 2 * hidden * widest;
        const int64_t previous_rows = s ? steps[s - 1].rows : 0;
        for_directions([&](int64_t d) {
          cell_backward_step<scalar_t, product_t>(d, step, width, hidden, columns, widest, activations, tanh_cell,
                                                  left, grad_hidden, carry, d_gates, d_left);
          Tensor step_d_neighbours = step_view(d_neighbours_of[d], 2 * hidden, width);
          at::mm_out(step_d_neighbours, state_weight_t_of[d], d_gates_of[d].narrow(1, step.column, width));
          // route the gradients of this step's [above | left] hidden states and left cells to the previous diagonal
          const product_t* dn = step_d_neighbours.data_ptr<product_t>();
          const int64_t dn_unit = step_d_neighbours.stride(0);
          for_units(hidden, width, [&](int64_t k) {
            route_to_previous<scalar_t, product_t>(
                step, previous_rows, batch, dn + k * dn_unit, dn + (hidden + k) * dn_unit,
                d_left.data_ptr<scalar_t>() + (d * hidden + k) * widest, carry_hidden + (d * hidden + k) * widest,
                carry_memory + (d * hidden + k) * widest,
                grad_start_hidden.data_ptr<scalar_t>() + (d * hidden + k) * batch,
                grad_start_memory.data_ptr<scalar_t>() + (d * hidden + k) * batch);
          });
        });
      }
    };
    with_product_type<scalar_t>(mixed, loop);
  });
  Tensor grad_pixels = products(weight.narrow(2, 0, channels).transpose(1, 2), d_gates);  // (2, C', N)
  Tensor grad_weight = at::cat(
      {products(d_gates, pixels.transpose(1, 2)), products(d_gates, neighbours.transpose(1, 2))}, 2);  // (2, 4h, K)
  Tensor grad_bias = d_gates.sum(2, /*keepdim=*/true, tanh_cell.scalar_type());  // summed in the states' type
  return {grad_pixels, grad_weight, grad_bias, grad_start_hidden, grad_start_memory};
}

// The loop on a raster map: inputs (B, C', H·W) → the sum of both directions' hidden states (B, h, H·W); also
// returns the pixels in diagonal order and what diagonal_lstm_forward keeps, for the backward.
std::vector<Tensor> diagonal_lstm_raster_forward(const Tensor& inputs_in, const Tensor& reads_in,
                                                 const Tensor& writes_in, const Tensor& weight, const Tensor& bias,
                                                 const Tensor& start_hidden, const Tensor& start_memory,
                                                 const std::vector<int64_t>& rows,
                                                 const std::vector<int64_t>& advances, int64_t batch) {
  const Tensor inputs = inputs_in.contiguous(), reads = reads_in.contiguous(), writes = writes_in.contiguous();
  const int64_t channels = inputs.size(1), positions = inputs.size(2), hidden = start_hidden.size(1);
  Tensor pixels = at::empty({2, channels, positions * batch}, inputs.options());
  Tensor out = at::empty({batch, hidden, positions}, start_hidden.options());  // in the states' type
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, inputs.scalar_type(), "diagonal_lstm_to_diagonal_order", [&] {
    to_diagonal_order<scalar_t>(inputs.data_ptr<scalar_t>(), reads.data_ptr<int64_t>(), pixels.data_ptr<scalar_t>(),
                                batch, channels, positions, false);
  });
  std::vector<Tensor> results =
      diagonal_lstm_forward(pixels, weight, bias, start_hidden, start_memory, rows, advances, batch);
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "diagonal_lstm_to_raster_order", [&] {
    to_raster_order<scalar_t>(out.data_ptr<scalar_t>(), writes.data_ptr<int64_t>(), results[0].data_ptr<scalar_t>(),
                              batch, hidden, positions, false);
  });
  results[0] = pixels;  // the hidden states in diagonal order are not needed any more
  results.insert(results.begin(), out);
  return results;  // out, pixels, activations, tanh of the cells, left cells, neighbours
}

// Its backward: the gradients of inputs (B, C', H·W), weight, bias, start_hidden and start_memory.
std::vector<Tensor> diagonal_lstm_raster_backward(const Tensor& grad_out_in, const Tensor& reads_in,
                                                  const Tensor& writes_in, const Tensor& pixels, const Tensor& weight,
                                                  const Tensor& activations, const Tensor& tanh_cell,
                                                  const Tensor& left, const Tensor& neighbours,
                                                  const std::vector<int64_t>& rows,
                                                  const std::vector<int64_t>& advances, int64_t batch) {
  const Tensor grad_out = grad_out_in.contiguous(), reads = reads_in.contiguous(), writes = writes_in.contiguous();
  const int64_t hidden = tanh_cell.size(1), channels = pixels.size(1), positions = grad_out.size(2);
  Tensor grad_hidden = at::empty({2, hidden, positions * batch}, grad_out.options());
  Tensor grad_inputs = at::empty({batch, channels, positions}, pixels.options());  // in the products' type
  AT_DISPATCH_FLOATING_TYPES(grad_out.scalar_type(), "diagonal_lstm_raster_backward", [&] {
    to_raster_order<scalar_t>(const_cast<scalar_t*>(grad_out.data_ptr<scalar_t>()), writes.data_ptr<int64_t>(),
                              grad_hidden.data_ptr<scalar_t>(), batch, hidden, positions, true);
  });
  std::vector<Tensor> grads = diagonal_lstm_backward(grad_hidden, pixels, weight, activations, tanh_cell, left,
                                                     neighbours, rows, advances, batch);
  const Tensor grad_pixels = grads[0].contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, grad_pixels.scalar_type(), "diagonal_lstm_from_diagonal_order", [&] {
    to_diagonal_order<scalar_t>(grad_inputs.data_ptr<scalar_t>(), reads.data_ptr<int64_t>(),
                                const_cast<scalar_t*>(grad_pixels.data_ptr<scalar_t>()), batch, channels, positions,
                                true);
  });
  grads[0] = grad_inputs;
  return grads;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("raster_forward", &diagonal_lstm_raster_forward, "the recurrence on a raster map, forward");
  m.def("raster_backward", &diagonal_lstm_raster_backward, "the recurrence on a raster map, backward");
}
