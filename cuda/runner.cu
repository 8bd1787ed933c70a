// The one translation unit that compiles the CUDA Runner (cuda/llamaref/cuda/runner.cuh) for
// plain C++ programs: they include runner.hpp and link the CMake target llamaref::cuda_runner.
// Where NCCL was found (LLAMAREF_WITH_NCCL) the model-parallel RankRunner too (rank_runner.hpp,
// the target llamaref::cuda_model_parallel): one compile of the kernels serves both.
#include <llamaref/cuda/runner.cuh>
#ifdef LLAMAREF_WITH_NCCL
#include <llamaref/cuda/rank_runner.cuh>
#endif
