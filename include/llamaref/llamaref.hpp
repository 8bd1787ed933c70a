// llamaref/llamaref.hpp — everything at once. Include single headers for faster builds.
//
// Layers of the house (nothing includes upward):
//   core/       tensors, dtypes, reference ops, threads      (knows nothing of models or files)
//   cpu/        the fast kernels beside the reference ops, each tested against its specification
//   model/      the paper's boxes: config, weights, rmsnorm, rope, attention, feed_forward, transformer
//   formats/    checkpoint readers and writers -> Model (config + weight views over mapped files)
//   tokenizer/  text <-> ids: SentencePiece, tiktoken, chat templates
//   sampling/   the sampler chain and its random generators
//   generate.hpp  the generation loop (prefill, then decode through the KV cache)
//   verify/     traces, compare, perplexity: checking another engine
#pragma once

#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/ops.hpp"
#include "core/parallel.hpp"
#include "core/tensor.hpp"
#include "formats/load.hpp"
#include "generate.hpp"
#include "model/config.hpp"
#include "model/transformer.hpp"
#include "model/weights.hpp"
#include "model_parallel/communicator.hpp"
#include "model_parallel/partition.hpp"
#include "model_parallel/rank_model.hpp"
#include "model_parallel/transformer.hpp"
#include "sampling/sampler.hpp"
#include "tokenizer/chat_format.hpp"
#include "tokenizer/tokenizer.hpp"
#include "verify/compare.hpp"
#include "verify/perplexity.hpp"
#include "verify/trace.hpp"
