// llamaref/cpu/matmul_4_threaded.hpp — the matrix product's ladder, step 4: the rows shared among threads.
//
// Step 3 (matmul_3_tiled.hpp) runs on one core. Outputs of different weight rows are independent,
// so each thread takes a contiguous range of rows (parallel_for, core/parallel.hpp) and runs step
// 3 on it; every output is still computed by one thread, in the same order, so the result is
// bit-identical to step 3 for any number of threads (-t). Splitting by rows rather than tokens
// means each weight is read by one thread only: decode, which reads every weight once per token,
// needs exactly that.
//
// Step 5 is the fast path itself, cpu::matmul (matmul.hpp): the same arithmetic for every stored
// dtype (BF16, F16, the block formats, converted 8 weights at a time in registers), AVX-512 tiles
// on CPUs that have it, 16-bit and quantized weights converted once per L2 panel for prefill, and
// a decode that streams each row front to back with prefetches; tested bit-identical to this step
// on F32 weights (tests/test_matmul_ladder.cpp).
#pragma once

#include <cstddef>

#include "../core/parallel.hpp"
#include "matmul_3_tiled.hpp"

namespace llamaref::cpu {

#if LLAMAREF_HAVE_AVX2_KERNELS
// Step 4: step 3 on each thread's rows.   W: [out, in] F32   X: [T, in]   Y: [T, out]   Needs AVX2.
inline void matmul_threaded(const TensorView& W, const float* X, float* Y, std::size_t T) {
    parallel_for(W.rows(), [&](std::size_t r0, std::size_t r1) { matmul_tiled_rows(W, X, Y, T, r0, r1); });
}
#endif

}  // namespace llamaref::cpu
