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
// AVX-512 (F, DQ, BW, VL) has kernels for the matrix product only (cpu/matmul_avx512.hpp: prefill,
// and decode of BF16, F16 and Q8_0), marked LLAMAREF_AVX512; on such a CPU everything else runs
// its AVX2 kernel. The order of the
// float operations is the same in all three, so the results are identical whichever runs.
// AVX512_BF16 (LLAMAREF_AVX512BF16) and AVX512_VNNI (LLAMAREF_AVX512VNNI) serve two opt-in
// kernels that sum in another order, under llama.cpp's activation rounding only:
// cpu/matmul_bf16.hpp (BF16 prefill) and cpu/matmul_int8.hpp (Q8_0, Q4_K, Q5_K, Q6_K decode).
#pragma once

#include <algorithm>
#include <cstdlib>
#include <string_view>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define LLAMAREF_HAVE_AVX2_KERNELS 1
#define LLAMAREF_AVX2 __attribute__((target("avx2,fma,f16c")))
#define LLAMAREF_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma,f16c")))
#define LLAMAREF_AVX512BF16 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")))
#define LLAMAREF_AVX512VNNI __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#include <cpuid.h>
#include <immintrin.h>
#else
#define LLAMAREF_HAVE_AVX2_KERNELS 0
#define LLAMAREF_AVX2
#define LLAMAREF_AVX512
#define LLAMAREF_AVX512BF16
#define LLAMAREF_AVX512VNNI
#endif

namespace llamaref::cpu {

// In order: each one includes the one before it.
enum class Isa { portable, avx2, avx512 };

inline std::string_view isa_name(Isa i) { return i == Isa::avx512 ? "avx512" : i == Isa::avx2 ? "avx2" : "portable"; }

// The best instruction set this CPU supports (of those llamaref has kernels for): AVX2, FMA and
// F16C in the CPUID bits, and the operating system saving the 256-bit registers (XGETBV); then
// AVX-512 F, DQ, BW and VL, with the operating system saving the mask and 512-bit registers.
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
    const unsigned avx512 = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);               // F, DQ, BW, VL
    if ((b & avx512) != avx512 || (xcr0_lo & 0xE6u) != 0xE6u) return Isa::avx2;              // + opmask, ZMM state
    return Isa::avx512;
#endif
    return Isa::portable;
}

// AVX512_BF16 (CPUID leaf 7, sub-leaf 1, EAX bit 5): the bfloat16 dot product of
// cpu/matmul_bf16.hpp, used only under llama.cpp's activation rounding (it sums in another order).
inline bool detect_avx512_bf16() {
#if LLAMAREF_HAVE_AVX2_KERNELS
    unsigned a, b, c, d;
    return detect_isa() == Isa::avx512 && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5));
#else
    return false;
#endif
}

// AVX512_VNNI (CPUID leaf 7, sub-leaf 0, ECX bit 11): the int8 dot product of
// cpu/matmul_int8.hpp, used only under llama.cpp's activation rounding (it sums in another order).
inline bool detect_avx512_vnni() {
#if LLAMAREF_HAVE_AVX2_KERNELS
    unsigned a, b, c, d;
    return detect_isa() == Isa::avx512 && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (c & (1u << 11));
#else
    return false;
#endif
}

namespace detail {
inline Isa& isa_setting() {
    // LLAMAREF_ISA=portable or avx2 holds the kernels to that set (for comparisons and tests).
    static Isa isa = [] {
        const char* env = std::getenv("LLAMAREF_ISA");
        const Isa best = detect_isa();
        if (env && std::string_view(env) == "portable") return Isa::portable;
        if (env && std::string_view(env) == "avx2" && best == Isa::avx512) return Isa::avx2;
        return best;
    }();
    return isa;
}
}  // namespace detail

// The instruction set the fast kernels use now.
inline Isa isa() { return detail::isa_setting(); }

// Whether the AVX2 kernels may run (an AVX-512 CPU runs them too, for all that has no AVX-512 kernel).
inline bool use_avx2() { return isa() >= Isa::avx2; }

// Choose the kernels (tests compare them). Asking for more than the CPU has gets the best it has.
inline void set_isa(Isa i) { detail::isa_setting() = std::min(i, detect_isa()); }

}  // namespace llamaref::cpu
