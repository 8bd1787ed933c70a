// llamaref/cpu/simd.hpp — which vector instructions the fast CPU path may use, chosen at run time.
//
// The library is header-only and compiled with the user's flags (often none: plain x86-64, no
// AVX). So the fast kernels are not compiled for the build machine's CPU: each AVX2 kernel is a
// function marked LLAMAREF_AVX2 (GCC/Clang's target attribute), which lets it use AVX2, FMA and
// F16C instructions whatever the flags, and the CPU is asked once, at run time, whether it has
// them (cpu::isa()). Without them, the portable kernels run: plain C++ doing the same arithmetic
// in the same order, so the result is the same on every machine (tests check this bit for bit).
//
// Why not xsimd's dispatch: it needs one translation unit per instruction set, compiled with that
// set's flags, which a header-only library cannot arrange for its users.
//
// AVX-512 kernels are not written yet: the machines this was measured on have none, and an
// untested kernel is not offered. AVX2 code runs unchanged on AVX-512 CPUs.
#pragma once

#include <cstdlib>
#include <string_view>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define LLAMAREF_HAVE_AVX2_KERNELS 1
#define LLAMAREF_AVX2 __attribute__((target("avx2,fma,f16c")))
#include <immintrin.h>
#else
#define LLAMAREF_HAVE_AVX2_KERNELS 0
#define LLAMAREF_AVX2
#endif

namespace llamaref::cpu {

enum class Isa { portable, avx2 };

inline std::string_view isa_name(Isa i) { return i == Isa::avx2 ? "avx2" : "portable"; }

// The best instruction set this CPU supports (of those llamaref has kernels for).
inline Isa detect_isa() {
#if LLAMAREF_HAVE_AVX2_KERNELS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return Isa::avx2;
#endif
    return Isa::portable;
}

namespace detail {
inline Isa& isa_setting() {
    // LLAMAREF_ISA=portable forces the portable kernels (for comparisons and tests).
    static Isa isa = [] {
        const char* env = std::getenv("LLAMAREF_ISA");
        return env && std::string_view(env) == "portable" ? Isa::portable : detect_isa();
    }();
    return isa;
}
}  // namespace detail

// The instruction set the fast kernels use now.
inline Isa isa() { return detail::isa_setting(); }

// Choose the kernels (tests compare both). Asking for AVX2 on a CPU without it keeps portable.
inline void set_isa(Isa i) { detail::isa_setting() = (i == Isa::avx2 && detect_isa() != Isa::avx2) ? Isa::portable : i; }

}  // namespace llamaref::cpu
