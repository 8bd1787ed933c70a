// llamaref/llamaref.hpp — everything at once. Include single headers for faster builds.
//
// Layers of the house (nothing includes upward):
//   core/       tensors, dtypes, reference ops, threads      (knows nothing of models or files)
//   model/      the paper's boxes: config, rmsnorm, rope, attention, feed_forward, transformer
//   formats/    checkpoint readers -> Model (config + weight views over mapped files)
//   tokenizer/  text <-> ids
#pragma once

#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/ops.hpp"
#include "core/parallel.hpp"
#include "core/tensor.hpp"
#include "formats/load.hpp"
#include "model/config.hpp"
#include "model/transformer.hpp"
#include "tokenizer/sentencepiece.hpp"
