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
#include <cpuid.h>
#include <immintrin.h>
#else
#define LLAMAREF_HAVE_AVX2_KERNELS 0
#define LLAMAREF_AVX2
#endif

namespace llamaref::cpu {

enum class Isa { portable, avx2 };

inline std::string_view isa_name(Isa i) { return i == Isa::avx2 ? "avx2" : "portable"; }

// The best instruction set this CPU supports (of those llamaref has kernels for): AVX2, FMA and
// F16C in the CPUID bits, and the operating system saving the 256-bit registers (XGETBV).
// (CPUID directly: clang's __builtin_cpu_supports does not know "f16c".)
inline Isa detect_isa() {
#if LLAMAREF_HAVE_AVX2_KERNELS
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return Isa::portable;
    const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
    if (!(fma && osxsave && avx && f16c)) return Isa::portable;
    unsigned xcr0_lo, xcr0_hi;
    __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 6u) != 6u) return Isa::portable;  // XMM and YMM state enabled by the OS
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & (1u << 5))) return Isa::portable;  // AVX2
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
