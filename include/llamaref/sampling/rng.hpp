// llamaref/sampling/rng.hpp — where the randomness of sampling comes from, explicitly.
//
// A sampler never draws random numbers itself: it asks a generator for one "coin" in [0, 1) per
// token and hands it to sample(probs, coin) (sampler.hpp). Replaying another engine's draws is
// then a matter of feeding its coins. Two generators:
//
//   Mt19937Rng   the default: std::mt19937_64, whose output sequence the C++ standard fixes, and a
//                coin made from its top 53 bits — the same text for the same seed on every machine.
//   Llama2cRng   llama2.c's xorshift64* (run.c, random_u32 / random_f32): state ^= state >> 12;
//                state ^= state << 25; state ^= state >> 27; u32 = (state · 0x2545F4914F6CDD1D) >> 32;
//                coin = (u32 >> 8) / 2^24 — to reproduce llama2.c's seeded output.
#pragma once

#include <cstdint>
#include <random>

namespace llamaref {

class Rng {
  public:
    virtual ~Rng() = default;
    virtual double coin() = 0;  // uniform in [0, 1)
};

class Mt19937Rng : public Rng {
  public:
    explicit Mt19937Rng(uint64_t seed) : mt_(seed) {}
    double coin() override { return double(mt_() >> 11) * 0x1.0p-53; }

  private:
    std::mt19937_64 mt_;
};

class Llama2cRng : public Rng {
  public:
    explicit Llama2cRng(uint64_t seed) : state_(seed) {}
    uint32_t next_u32() {
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        return uint32_t((state_ * 0x2545F4914F6CDD1Dull) >> 32);
    }
    double coin() override { return double(float(next_u32() >> 8) / 16777216.0f); }

  private:
    uint64_t state_;
};

}  // namespace llamaref
