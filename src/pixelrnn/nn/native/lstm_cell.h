// The LSTM cell's element-wise passes (PixelRNN §3.1–3.2), shared by the Row LSTM's and the Diagonal BiLSTM's
// native loops: gates o, f, i = σ(·), g = tanh(·); c = f ⊙ c_left + i ⊙ g; h = o ⊙ tanh(c). Each pass runs over
// one hidden unit's run of contiguous columns, in the CPU's vector width (AVX2 where PyTorch uses AVX2 or AVX512);
// for_units shares the units out among threads.
#pragma once

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <type_traits>

namespace pixelrnn_native {

// Runs f(k) for every hidden unit k < h, on several threads when the units' ``columns`` each make enough work
// (inside another parallel region, such as one direction of the Diagonal BiLSTM, on that region's thread).
template <typename F>
void for_units(int64_t hidden, int64_t columns, const F& f) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(columns, 1));
  at::parallel_for(0, hidden, grain, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) f(k);
  });
}

template <typename scalar_t>
using Vec = at::vec::Vectorized<scalar_t>;

// A vector of scalar_t from ``count`` stored values (another type: bfloat16 operands of mixed precision).
template <typename scalar_t, typename stored_t>
Vec<scalar_t> load_as(const stored_t* values, int count) {
  if constexpr (std::is_same_v<scalar_t, stored_t>) {
    return Vec<scalar_t>::loadu(values, count);
  } else if constexpr (std::is_same_v<scalar_t, float> && std::is_same_v<stored_t, c10::BFloat16>) {
    return std::get<0>(at::vec::convert_bfloat16_float(Vec<c10::BFloat16>::loadu(values, count)));
  } else {
    scalar_t converted[Vec<scalar_t>::size()];
    for (int j = 0; j < count; ++j) converted[j] = static_cast<scalar_t>(values[j]);
    return Vec<scalar_t>::loadu(converted, count);
  }
}

// Stores ``count`` values of a vector as stored_t (bfloat16: rounded to nearest even).
template <typename stored_t, typename scalar_t>
void store_as(const Vec<scalar_t>& vector, stored_t* values, int count) {
  if constexpr (std::is_same_v<scalar_t, stored_t>) {
    vector.store(values, count);
  } else if constexpr (std::is_same_v<scalar_t, float> && std::is_same_v<stored_t, c10::BFloat16>) {
    at::vec::convert_float_bfloat16(vector, vector).store(values, count);  // the first half: ``vector``'s values
  } else {
    scalar_t converted[Vec<scalar_t>::size()];
    vector.store(converted, count);
    for (int j = 0; j < count; ++j) values[j] = static_cast<stored_t>(converted[j]);
  }
}

// Runs loop(zero) with a zero of the products' type: bfloat16 where ``mixed``, else the states' scalar_t.
template <typename scalar_t, typename F>
void with_product_type(bool mixed, const F& loop) {
  if (mixed) {
    loop(at::BFloat16(0));
  } else {
    loop(scalar_t(0));
  }
}

template <typename scalar_t>
Vec<scalar_t> sigmoid(const Vec<scalar_t>& x) {
  const Vec<scalar_t> one(1);
  return one / (one + x.neg().exp_u20());  // float: a 20-ulp polynomial (float64: exact)
}

// tanh(x) = 2σ(2x) − 1: one exponential, several times faster than SLEEF's tanh (as in recurrent_cell.tanh)
template <typename scalar_t>
Vec<scalar_t> tanh(const Vec<scalar_t>& x) {
  const Vec<scalar_t> two(2), one(1);
  return two * sigmoid(two * x) - one;
}

// The forward's element-wise pass over one unit's columns: activations in place of the input's pre-activations
// (o, f, i, g), to which the state's part (from_state_*, in the products' type) and the bias (null: none) are added.
template <typename scalar_t, typename from_t = scalar_t>
void cell_forward(scalar_t* o, scalar_t* f, scalar_t* i, scalar_t* g, const from_t* from_state_o,
                  const from_t* from_state_f, const from_t* from_state_i, const from_t* from_state_g,
                  const scalar_t* bias, int64_t bias_stride, const scalar_t* left, scalar_t* tanh_cell,
                  scalar_t* cell, scalar_t* hidden, int64_t width) {
  const Vec<scalar_t> bias_o(bias ? bias[0] : 0), bias_f(bias ? bias[bias_stride] : 0),
      bias_i(bias ? bias[2 * bias_stride] : 0), bias_g(bias ? bias[3 * bias_stride] : 0);  // null: no bias
  for (int64_t j = 0; j < width; j += Vec<scalar_t>::size()) {
    const int count = static_cast<int>(std::min<int64_t>(Vec<scalar_t>::size(), width - j));
    auto load = [&](const auto* p) { return load_as<scalar_t>(p + j, count); };
    const auto o_ = sigmoid(load(o) + load(from_state_o) + bias_o);
    const auto f_ = sigmoid(load(f) + load(from_state_f) + bias_f);
    const auto i_ = sigmoid(load(i) + load(from_state_i) + bias_i);
    const auto g_ = tanh(load(g) + load(from_state_g) + bias_g);
    const auto c_ = f_ * load(left) + i_ * g_;
    const auto t_ = tanh(c_);
    o_.store(o + j, count), f_.store(f + j, count), i_.store(i + j, count), g_.store(g + j, count);
    t_.store(tanh_cell + j, count), c_.store(cell + j, count), (o_ * t_).store(hidden + j, count);
  }
}

// The backward's element-wise pass over one unit's columns: the gate gradients and the gradient of the cell state
// the update read (``left``), from the hidden state's gradient and what the next step sends back (carry_*); the gate
// gradients in the products' type (grad_t).
template <typename scalar_t, typename grad_t = scalar_t>
void cell_backward(const scalar_t* o, const scalar_t* f, const scalar_t* i, const scalar_t* g,
                   const scalar_t* tanh_cell, const scalar_t* left, const scalar_t* grad_hidden,
                   const scalar_t* carry_hidden, const scalar_t* carry_memory, grad_t* d_o, grad_t* d_f,
                   grad_t* d_i, grad_t* d_g, scalar_t* d_left, int64_t width) {
  const Vec<scalar_t> one(1);
  for (int64_t j = 0; j < width; j += Vec<scalar_t>::size()) {
    const int count = static_cast<int>(std::min<int64_t>(Vec<scalar_t>::size(), width - j));
    auto load = [&](const scalar_t* p) { return Vec<scalar_t>::loadu(p + j, count); };
    const auto o_ = load(o), f_ = load(f), i_ = load(i), g_ = load(g), t_ = load(tanh_cell);
    const auto dh = load(grad_hidden) + load(carry_hidden);
    const auto dc = dh * o_ * (one - t_ * t_) + load(carry_memory);
    store_as(dh * t_ * o_ * (one - o_), d_o + j, count);
    store_as(dc * load(left) * f_ * (one - f_), d_f + j, count);
    store_as(dc * g_ * i_ * (one - i_), d_i + j, count);
    store_as(dc * i_ * (one - g_ * g_), d_g + j, count);
    (dc * f_).store(d_left + j, count);
  }
}

}  // namespace pixelrnn_native
