// cmake/matmul_kernels.cpp — the vector matmul kernels, compiled once for the project's own tests
// and examples (CMake target llamaref_matmul; cpu/matmul.hpp says why). Nothing else is here:
// the kernels are the headers' code, unchanged.
#define LLAMAREF_MATMUL_DEFINE
#include <llamaref/cpu/matmul.hpp>
