// llamaref tokenize — text to token ids with any Llama tokenizer (and the pieces, to see them).
#include <cstdio>
#include <fstream>
#include <sstream>

#include <llamaref/tokenizer/tokenizer.hpp>

#include "args.hpp"
#include "commands.hpp"

namespace llamaref::cli {

namespace {

// A piece shown readably: printable UTF-8 as is, other bytes as \n, \t, \xNN.
std::string show(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (c == '\n')
            out += "\\n";
        else if (c == '\t')
            out += "\\t";
        else if (c == '\r')
            out += "\\r";
        else if (c == '\\')
            out += "\\\\";
        else if (c < 0x20 || c == 0x7F) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        } else
            out += char(c);
    }
    return utf8::is_valid(out) ? out : utf8::replace_invalid(out);
}

}  // namespace

int cmd_tokenize(int argc, char** argv) {
    ArgParser args("tokenize", "-z TOKENIZER (--text T | --file F) [--bos] [--eos] [--ids] [--parse-special]",
                   "Print the token ids of a text, one \"id<TAB>piece\" line each (or only the ids, with --ids).\n"
                   "TOKENIZER: SentencePiece or Meta Llama 3 tokenizer.model, tokenizer.json, llama2.c tokenizer.bin,\n"
                   "or a model file or folder with one of them beside it.");
    args.option("-z,--tokenizer", "PATH", "tokenizer file, or a model file or folder")
        .option("--text", "T", "the text to encode")
        .option("--file", "F", "encode the bytes of this file")
        .option("--bos", "", "start with BOS")
        .option("--eos", "", "end with EOS")
        .option("--ids", "", "print only the ids, space-separated on one line")
        .option("--parse-special", "",
                "Llama 3: special-token text (e.g. <|eot_id|>) becomes its id, as in Hugging "
                "Face; default: plain text, as in Meta's encoder");
    args.parse(argc, argv);
    if (args.given("--text") == args.given("--file"))
        throw UsageError("llamaref tokenize: give exactly one of --text and --file");
    std::string text;
    if (args.given("--text")) {
        text = args.str("--text");
    } else {
        std::ifstream in(args.str("--file"), std::ios::binary);
        if (!in) fail(args.str("--file"), ": cannot open");
        std::ostringstream s;
        s << in.rdbuf();
        text = s.str();
    }
    const std::string z = args.str("-z");
    const Tokenizer tok = llamaref::load_tokenizer(z);  // any tokenizer file, or a model's (a .gguf's vocabulary)
    const auto ids = tok.encode(text, args.given("--bos"), args.given("--eos"),
                                args.given("--parse-special") ? SpecialText::parse : SpecialText::plain);
    if (args.given("--ids")) {
        for (std::size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
        std::printf("\n");
    } else {
        for (int id : ids) std::printf("%d\t%s\n", id, show(tok.piece(id)).c_str());
    }
    return 0;
}

}  // namespace llamaref::cli
