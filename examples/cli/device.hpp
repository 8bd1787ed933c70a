// examples/cli/device.hpp — `--device cpu|cuda`, shared by generate, logits and bench.
//
// cpu is llamaref's reference path (model/transformer.hpp). cuda runs the same forward pass on a
// GPU through llamaref::cuda::Runner (cuda/llamaref/cuda/runner.hpp), which exists only when the
// CLI was built with nvcc (CMake defines LLAMAREF_WITH_CUDA then). Asking for cuda without it, or
// without a usable device, is an error with the reason, before any model is loaded.
#pragma once

#include <string>

#ifdef LLAMAREF_WITH_CUDA
#include <llamaref/cuda/runner.hpp>
#endif

#include "args.hpp"

namespace llamaref::cli {

enum class Device { cpu, cuda };

inline void add_device_option(ArgParser& args) {
    args.option("--device", "DEV", "cpu or cuda (needs a build with CUDA and a GPU)", "cpu");
}

// The --device flag, checked: a cuda request needs CUDA in this build and a usable device.
inline Device device_from(const ArgParser& args, const std::string& command) {
    const std::string d = args.str("--device");
    if (d == "cpu") return Device::cpu;
    if (d != "cuda") throw UsageError("llamaref " + command + ": --device must be cpu or cuda, got '" + d + "'");
#ifdef LLAMAREF_WITH_CUDA
    std::string why;
    if (!cuda::device_available(&why)) fail("no usable CUDA device: ", why);
#else
    fail("this llamaref was built without CUDA: configure with -DLLAMAREF_CUDA=ON and nvcc available");
#endif
    return Device::cuda;
}

}  // namespace llamaref::cli
