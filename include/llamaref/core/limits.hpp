// llamaref/core/limits.hpp — how big a model may plausibly be, and size arithmetic that cannot
// overflow.
//
// Every number a reader takes from a file (layer count, dims, vocabulary, context, tensor shapes,
// counts of entries) is hostile until checked: a header may say 2^31 − 1 layers or a head count
// whose product with head_dim overflows an int. Two rules keep such files from crashing llamaref,
// hitting undefined behaviour or allocating gigabytes before the first error:
//
//   1. Sizes are computed in 64 bits with checked_mul / checked_add; an overflow is a
//      llamaref::Error, never a wrapped value. checked_int narrows to int, also with a check.
//   2. A model's shape must lie within the plausibility limits below, stated here and nowhere
//      else. They are generous: Llama 3.1 405B (D 16384, L 126, H 128, F 53248, V 128256,
//      context 131072) and 256K vocabularies fit with a wide margin, and any product of two
//      limits (V·D, H·Dh, F·D) still fits in 64 bits many times over.
//
// ModelConfig::validate() (model/config.hpp) checks every field against these limits; readers
// call it before they size anything per layer.
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "error.hpp"

namespace llamaref {

namespace limits {
//                                               llamaref allows   Llama 3.1 405B has
constexpr int64_t max_dim = int64_t(1) << 17;         // 131072    D  = 16384
constexpr int64_t max_layers = 1024;                  //           L  = 126
constexpr int64_t max_heads = 1024;                   //           H  = 128 (KV = 8)
constexpr int64_t max_head_dim = 1024;                //           Dh = 128
constexpr int64_t max_hidden_dim = int64_t(1) << 19;  // 524288    F  = 53248
constexpr int64_t max_vocab = int64_t(1) << 20;       // 1048576   V  = 128256
constexpr int64_t max_context = int64_t(1) << 22;     // 4194304   131072 (the KV cache grows as used)
// Container bookkeeping: real GGUF files hold a few dozen metadata keys and ~1000 tensors.
constexpr int64_t max_gguf_metadata_keys = int64_t(1) << 16;
constexpr int64_t max_tensors = int64_t(1) << 20;
// JSON files (config.json, params.json, tokenizer.json, safetensors headers) nest a few levels;
// a value nested deeper than this is refused before nlohmann::json builds it (copying or printing
// a 100,000-deep value recurses once per level and overflows the stack).
constexpr int max_json_depth = 512;
}  // namespace limits

// a · b for sizes, in 64 bits; an operand below zero or a product past 2^64 − 1 is an Error that
// says what was being computed: checked_mul(rows, cols, "tensor wq: element count").
template <class A, class B>
uint64_t checked_mul(A a, B b, std::string_view what) {
    static_assert(std::is_integral_v<A> && std::is_integral_v<B>);
    if constexpr (std::is_signed_v<A>)
        if (a < 0) fail(what, ": negative size ", a);
    if constexpr (std::is_signed_v<B>)
        if (b < 0) fail(what, ": negative size ", b);
    uint64_t r;
    if (__builtin_mul_overflow(uint64_t(a), uint64_t(b), &r)) fail(what, ": ", a, " × ", b, " overflows 64 bits");
    return r;
}

// a + b for sizes, in 64 bits, checked like checked_mul.
template <class A, class B>
uint64_t checked_add(A a, B b, std::string_view what) {
    static_assert(std::is_integral_v<A> && std::is_integral_v<B>);
    if constexpr (std::is_signed_v<A>)
        if (a < 0) fail(what, ": negative size ", a);
    if constexpr (std::is_signed_v<B>)
        if (b < 0) fail(what, ": negative size ", b);
    uint64_t r;
    if (__builtin_add_overflow(uint64_t(a), uint64_t(b), &r)) fail(what, ": ", a, " + ", b, " overflows 64 bits");
    return r;
}

// v as an int, or an Error when it does not fit: checked_int(n_heads * head_dim, "H·Dh").
template <class T>
int checked_int(T v, std::string_view what) {
    static_assert(std::is_integral_v<T>);
    if constexpr (std::is_signed_v<T>) {
        if (int64_t(v) < INT_MIN || int64_t(v) > INT_MAX) fail(what, ": ", v, " does not fit in an int");
    } else {
        if (uint64_t(v) > uint64_t(INT_MAX)) fail(what, ": ", v, " does not fit in an int");
    }
    return int(v);
}

}  // namespace llamaref
