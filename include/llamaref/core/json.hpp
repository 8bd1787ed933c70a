// llamaref/core/json.hpp — read JSON files (config.json, params.json, tokenizer.json, index
// files, safetensors headers) and their fields, with errors that name the file and the key.
//
// JSON from a file is hostile like any other input:
//   - nesting: nlohmann::json parses and destroys deep values without recursion, but copying,
//     comparing or dump()ing one recurses once per level, so a value nested 100,000 deep overflows
//     the stack. parse_json() refuses nesting deeper than limits::max_json_depth with a byte scan
//     before nlohmann builds anything.
//   - messages: an error shows at most a short prefix of an offending value (json_excerpt), never
//     the dump() of a whole, possibly huge, value.
//   - types: JsonFields reads one object's fields with the type and range the caller asks for, so
//     a string where a number belongs, 1e20 where an int belongs or a NaN-like overflow is a
//     llamaref::Error naming file and key, never a nlohmann::json::type_error.
#pragma once

#include <climits>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "error.hpp"
#include "limits.hpp"

namespace llamaref {

// Throws unless every value in `text` is nested at most limits::max_json_depth deep (counting
// [ and { outside strings; a cheap scan that allocates nothing).
inline void check_json_depth(std::string_view text, const std::string& where) {
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char ch = text[i];
        if (in_string) {
            if (ch == '\\')
                ++i;  // skip the escaped character (\" does not end the string)
            else if (ch == '"')
                in_string = false;
        } else if (ch == '"') {
            in_string = true;
        } else if (ch == '[' || ch == '{') {
            if (++depth > limits::max_json_depth)
                fail(where, ": JSON nested more than ", limits::max_json_depth, " levels deep (at byte ", i, ")");
        } else if (ch == ']' || ch == '}') {
            --depth;  // unbalanced brackets are the parser's to report
        }
    }
}

// Parse `text`, which came from `where` (a file name, or "file: safetensors header").
inline nlohmann::json parse_json(std::string_view text, const std::string& where) {
    check_json_depth(text, where);
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        // nlohmann quotes the whole offending token (a 1 MB string in a broken file): cut it.
        std::string what = e.what();
        if (what.size() > 200) what = what.substr(0, 200) + "...";
        fail(where, ": not valid JSON: ", what);
    }
}

inline nlohmann::json read_json_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail(path, ": cannot open");
    std::ostringstream text;
    text << f.rdbuf();
    return parse_json(text.str(), path);
}

namespace detail {
// JSON text of a scalar; invalid UTF-8 (a string cut short) is replaced, not thrown about.
inline std::string json_text(const nlohmann::json& v) {
    return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
inline void json_excerpt_into(const nlohmann::json& v, std::string& out, std::size_t max) {
    if (out.size() > max) return;  // each level adds a character first, so recursion ends within max
    if (v.is_array() || v.is_object()) {
        out += v.is_array() ? '[' : '{';
        bool first = true;
        for (auto it = v.begin(); it != v.end() && out.size() <= max; ++it) {
            if (!first) out += ',';
            first = false;
            if (v.is_object()) out += json_text(it.key().substr(0, max)) + ':';
            json_excerpt_into(*it, out, max);
        }
        out += v.is_array() ? ']' : '}';
    } else if (v.is_string()) {
        out += json_text(v.get_ref<const std::string&>().substr(0, max + 1));
    } else {
        out += json_text(v);  // a number, bool or null: short
    }
}
}  // namespace detail

// At most `max` characters of `v` as JSON text, "..." marking a cut: safe for any value.
inline std::string json_excerpt(const nlohmann::json& v, std::size_t max = 40) {
    std::string out;
    detail::json_excerpt_into(v, out, max);
    if (out.size() > max) {
        std::size_t n = max;
        while (n > 0 && (static_cast<unsigned char>(out[n]) & 0xC0) == 0x80) --n;  // not inside a UTF-8 character
        out.resize(n);
        out += "...";
    }
    return out;
}

// The fields of one JSON object, read with a type and range; errors say
// `<where>: field "<key>" must be an integer, found "4096"` and the like.
class JsonFields {
  public:
    JsonFields(const nlohmann::json& obj, std::string where) : j_(obj), where_(std::move(where)) {
        if (!j_.is_object()) fail(where_, ": expected a JSON object, found ", json_excerpt(j_));
    }
    const std::string& where() const { return where_; }
    const nlohmann::json& json() const { return j_; }

    // Present and not null.
    bool has(const std::string& key) const {
        auto it = j_.find(key);
        return it != j_.end() && !it->is_null();
    }
    const nlohmann::json& at(const std::string& key) const {
        auto it = j_.find(key);
        if (it == j_.end() || it->is_null()) fail(where_, ": missing field \"", key, "\"");
        return *it;
    }

    // An integer in [lo, hi]; 4096.0 or 1e20 is not an integer.
    int64_t integer(const std::string& key, int64_t lo = 1, int64_t hi = INT_MAX) const {
        const nlohmann::json& v = at(key);
        if (!v.is_number()) wrong(key, "a number", v);
        if (!v.is_number_integer()) wrong(key, "an integer", v);
        if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))
            fail(where_, ": field \"", key, "\" out of range: ", json_excerpt(v), " (expected ", lo, "..", hi, ")");
        const int64_t x = v.get<int64_t>();
        if (x < lo || x > hi) fail(where_, ": field \"", key, "\" out of range: ", x, " (expected ", lo, "..", hi, ")");
        return x;
    }
    // A finite number (integer or not).
    double number(const std::string& key) const {
        const nlohmann::json& v = at(key);
        if (!v.is_number()) wrong(key, "a number", v);
        const double x = v.get<double>();
        if (!std::isfinite(x)) fail(where_, ": field \"", key, "\" must be a finite number, found ", x);
        return x;
    }
    bool boolean(const std::string& key) const {
        const nlohmann::json& v = at(key);
        if (!v.is_boolean()) wrong(key, "true or false", v);
        return v.get<bool>();
    }
    std::string string(const std::string& key) const {
        const nlohmann::json& v = at(key);
        if (!v.is_string()) wrong(key, "a string", v);
        return v.get<std::string>();
    }
    JsonFields object(const std::string& key) const {
        const nlohmann::json& v = at(key);
        if (!v.is_object()) wrong(key, "an object", v);
        return JsonFields(v, where_ + ": " + key);
    }

    // The same with a default for an absent or null field.
    int64_t integer_or(const std::string& key, int64_t dflt, int64_t lo = 1, int64_t hi = INT_MAX) const {
        return has(key) ? integer(key, lo, hi) : dflt;
    }
    double number_or(const std::string& key, double dflt) const { return has(key) ? number(key) : dflt; }
    bool boolean_or(const std::string& key, bool dflt) const { return has(key) ? boolean(key) : dflt; }
    std::string string_or(const std::string& key, std::string dflt) const {
        return has(key) ? string(key) : std::move(dflt);
    }

  private:
    [[noreturn]] void wrong(const std::string& key, const char* expected, const nlohmann::json& v) const {
        fail(where_, ": field \"", key, "\" must be ", expected, ", found ", json_excerpt(v));
    }

    const nlohmann::json& j_;
    std::string where_;
};

}  // namespace llamaref
