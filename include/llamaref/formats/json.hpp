// llamaref/formats/json.hpp — read a whole JSON file (config.json, params.json, tokenizer.json,
// index files), with errors that name the file.
#pragma once

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"

namespace llamaref {

inline nlohmann::json read_json_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail(path, ": cannot open");
    try {
        return nlohmann::json::parse(f);
    } catch (const nlohmann::json::exception& e) {
        fail(path, ": not valid JSON: ", e.what());
    }
}

}  // namespace llamaref
