// llamaref/llamaref.hpp — everything at once. Include single headers for faster builds.
//
// Layers of the house (nothing includes upward; docs/architecture.md, checked by tests/check_layers.py):
//   core/       tensors, dtypes, reference ops, threads      (knows nothing of models or files)
//   model/      the specification: the paper's boxes (config, weights, rmsnorm, rope, attention,
//               feed_forward), the table of operations (backend.hpp) and the one forward pass
//   cpu/        the fast kernels beside the reference ops, each tested against its specification;
//               cpu::fast_backend (cpu/backend.hpp) hands them to the forward pass
//   formats/    checkpoint readers and writers -> Model (config + weight views over mapped files)
//   tokenizer/  text <-> ids: SentencePiece, tiktoken, chat templates
//   sampling/   the sampler chain and its random generators
//   generate.hpp  the generation loop (prefill, then decode through the KV cache)
//   verify/     traces, compare, perplexity: checking another engine
//   model_parallel/  Meta's layout: a rank's slices and the forward pass's collective hooks (MPI)
#pragma once

#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/ops.hpp"
#include "core/parallel.hpp"
#include "core/tensor.hpp"
#include "cpu/backend.hpp"
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
