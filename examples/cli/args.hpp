// examples/cli/args.hpp — a small command-line flag parser with llama.cpp's conventions.
//
// Each subcommand declares its flags (short and long names, a help line, a default), then
// parses. Unknown flags, missing values and malformed numbers are errors with a message;
// `-h` / `--help` prints the generated help and exits 0.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <llamaref/core/error.hpp>

namespace llamaref::cli {

// Thrown for bad command lines; main() prints the message and exits 1.
struct UsageError : Error {
    using Error::Error;
};

class ArgParser {
  public:
    ArgParser(std::string command, std::string usage, std::string summary)
        : command_(std::move(command)), usage_(std::move(usage)), summary_(std::move(summary)) {}

    // names: "-m,--model". A flag with an empty metavar takes no value (a switch).
    ArgParser& option(const std::string& names, const std::string& metavar, const std::string& help,
                      std::optional<std::string> fallback = std::nullopt) {
        Option o{split(names), metavar, help, fallback, {}};
        options_.push_back(o);
        return *this;
    }

    void parse(int argc, char** argv) {
        for (int i = 0; i < argc; ++i) {
            const std::string a = argv[i];
            if (a == "-h" || a == "--help") {
                std::fputs(help().c_str(), stdout);
                std::exit(0);
            }
            Option* o = find(a);
            if (!o) {
                if (!a.empty() && a[0] == '-')
                    throw UsageError("llamaref " + command_ + ": unknown flag " + a + " (see llamaref " + command_ +
                                     " --help)");
                throw UsageError("llamaref " + command_ + ": unexpected argument '" + a + "' (see llamaref " +
                                 command_ + " --help)");
            }
            if (o->metavar.empty()) {
                o->value = "1";
            } else {
                if (i + 1 >= argc) throw UsageError("llamaref " + command_ + ": " + a + " needs a value " + o->metavar);
                o->value = argv[++i];
            }
        }
    }

    bool has(const std::string& name) const { return get_opt(name).value.has_value() || get_opt(name).fallback; }
    bool given(const std::string& name) const { return get_opt(name).value.has_value(); }

    std::string str(const std::string& name) const {
        const Option& o = get_opt(name);
        if (o.value) return *o.value;
        if (o.fallback) return *o.fallback;
        throw UsageError("llamaref " + command_ + ": " + o.names.back() + " " + o.metavar + " is required");
    }

    long integer(const std::string& name, long lo, long hi) const {
        const std::string s = str(name);
        char* end = nullptr;
        errno = 0;
        const long v = std::strtol(s.c_str(), &end, 10);
        if (s.empty() || *end != '\0' || errno == ERANGE || v < lo || v > hi) {
            std::ostringstream m;
            m << "llamaref " << command_ << ": " << name << " must be an integer in [" << lo << ", " << hi << "], got '"
              << s << "'";
            throw UsageError(m.str());
        }
        return v;
    }

    // A number in [lo, hi], or in (lo, hi] when lo_open.
    double real(const std::string& name, double lo, double hi, bool lo_open = false) const {
        const std::string s = str(name);
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        if (s.empty() || *end != '\0' || !std::isfinite(v) || v < lo || (lo_open && v == lo) || v > hi) {
            std::ostringstream m;
            m << "llamaref " << command_ << ": " << name << " must be a number in " << (lo_open ? "(" : "[") << lo
              << ", " << hi << "], got '" << s << "'";
            throw UsageError(m.str());
        }
        return v;
    }

    // "1,2,3" -> {1, 2, 3}
    std::vector<int> int_list(const std::string& name) const {
        std::vector<int> out;
        std::stringstream in(str(name));
        for (std::string item; std::getline(in, item, ',');) {
            char* end = nullptr;
            errno = 0;
            const long v = std::strtol(item.c_str(), &end, 10);
            if (item.empty() || *end != '\0' || errno == ERANGE || v < INT32_MIN || v > INT32_MAX)
                throw UsageError("llamaref " + command_ + ": " + name +
                                 " must be a comma-separated list of integers, got '" + str(name) + "'");
            out.push_back(int(v));
        }
        if (out.empty()) throw UsageError("llamaref " + command_ + ": " + name + " is empty");
        return out;
    }

    std::string help() const {
        std::ostringstream o;
        o << "usage: llamaref " << command_ << " " << usage_ << "\n\n" << summary_ << "\n\noptions:\n";
        for (const auto& opt : options_) {
            std::string left;
            for (std::size_t i = 0; i < opt.names.size(); ++i) left += (i ? ", " : "") + opt.names[i];
            if (!opt.metavar.empty()) left += " " + opt.metavar;
            o << "  " << left;
            o << std::string(left.size() < 26 ? 26 - left.size() : 1, ' ') << opt.help;
            if (opt.fallback && !opt.metavar.empty()) o << " (default: " << *opt.fallback << ")";
            o << "\n";
        }
        o << "  -h, --help                show this help\n";
        return o.str();
    }

  private:
    struct Option {
        std::vector<std::string> names;
        std::string metavar, help;
        std::optional<std::string> fallback, value;
    };

    static std::vector<std::string> split(const std::string& names) {
        std::vector<std::string> out;
        std::stringstream in(names);
        for (std::string n; std::getline(in, n, ',');) out.push_back(n);
        return out;
    }

    Option* find(const std::string& flag) {
        for (auto& o : options_)
            for (const auto& n : o.names)
                if (n == flag) return &o;
        return nullptr;
    }

    const Option& get_opt(const std::string& name) const {
        for (const auto& o : options_)
            for (const auto& n : o.names)
                if (n == name) return o;
        throw std::logic_error("ArgParser: no option " + name);  // a bug in the CLI, not bad input
    }

    std::string command_, usage_, summary_;
    std::vector<Option> options_;
};

}  // namespace llamaref::cli
