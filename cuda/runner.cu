// The one translation unit that compiles the CUDA Runner (cuda/llamaref/cuda/runner.cuh) for
// plain C++ programs: they include runner.hpp and link the CMake target llamaref::cuda_runner.
#include <llamaref/cuda/runner.cuh>
