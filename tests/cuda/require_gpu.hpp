// LLAMAREF_REQUIRE_GPU(available): a CUDA test case prints "SKIPPED: no CUDA device (why)" and
// returns when available(&why) is false — CTest then reports it as skipped (as the data tests do).
#pragma once

#include <string>

#include <catch2/catch.hpp>

#define LLAMAREF_REQUIRE_GPU(available)                      \
    do {                                                     \
        std::string why;                                     \
        if (!(available)(&why)) {                            \
            WARN("SKIPPED: no CUDA device (" << why << ")"); \
            return;                                          \
        }                                                    \
    } while (0)
