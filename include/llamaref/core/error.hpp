// llamaref/core/error.hpp — the one exception type of the library.
//
// Everything that can go wrong because of the *input* (a file, a flag, a token id) throws
// llamaref::Error with a message that says what was expected and what was found. Programs
// catch it at the top, print the message and exit with status 1. Bugs in llamaref itself
// are not Errors: they are assertions.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace llamaref {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// fail("file ", path, ": expected ", n, " bytes") — build the message from pieces and throw.
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
    std::ostringstream s;
    (s << ... << parts);
    throw Error(s.str());
}

// Run f(); an Error it throws is thrown again with `prefix` in front of its message, so a check
// that knows nothing of files can say which file it was about: in_context(path + ": ", ...).
template <class F>
void in_context(const std::string& prefix, F&& f) {
    try {
        f();
    } catch (const Error& e) { fail(prefix, e.what()); }
}

}  // namespace llamaref
