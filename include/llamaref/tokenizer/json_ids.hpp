// llamaref/tokenizer/json_ids.hpp — token ids and texts from a tokenizer.json, read without
// trusting them.
//
// nlohmann::json's get<int>() of 1e20 is undefined behaviour (a float cast to int), of 2^40 a
// wrapped value, of "3" a type_error. The tokenizer.json readers take every id through
// json_token_id, which accepts only an integer JSON number in [0, end) and otherwise throws an
// Error quoting at most a short prefix of what it found (json_brief never dump()s a whole value,
// which may be huge).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "read_guard.hpp"

namespace llamaref::detail {

// A short description of a JSON value: a number or short string as JSON text, else its type.
inline std::string json_brief(const nlohmann::json& v) {
    if (v.is_number() || v.is_boolean() || v.is_null()) return v.dump();
    if (v.is_string()) return "\"" + excerpt(v.get_ref<const std::string&>(), 40) + "\"";
    return std::string("a JSON ") + v.type_name();
}

// v as a token id in [0, end); `what` names it ("model.vocab['abc']") in the error.
inline int json_token_id(const nlohmann::json& v, uint64_t end, const std::string& what) {
    uint64_t id = 0;
    if (v.is_number_unsigned())
        id = v.get<uint64_t>();
    else if (v.is_number_integer() && v.get<int64_t>() >= 0)
        id = uint64_t(v.get<int64_t>());
    else
        fail(what, " is ", json_brief(v), "; expected a token id (an integer from 0)");
    if (id >= end || id > uint64_t(INT32_MAX))
        fail(what, " is ", id, "; expected a token id below ", end, " (ids are 0..n-1 for n entries)");
    return int(id);
}

}  // namespace llamaref::detail
