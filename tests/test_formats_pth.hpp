// A tiny torch.save writer for tests: a stored zip archive holding a protocol-2 pickle of a state
// dict, byte for byte in the shape PyTorch writes (opcodes as in pickletools.dis of a real
// consolidated.00.pth). Tests build sharded and hostile checkpoints with it.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <llamaref/formats/zip.hpp>

namespace llamaref::test {

struct PthTensor {
    std::string name;
    std::string storage_type;  // "FloatStorage", "HalfStorage", "BFloat16Storage"
    std::vector<int64_t> shape;
    std::string bytes;  // the storage: exactly the tensor, row-major
};

inline std::string le32(uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
inline std::string le16(uint16_t v) { return std::string(reinterpret_cast<const char*>(&v), 2); }

// Pickle pieces (protocol 2).
inline std::string pk_str(const std::string& s) {
    std::string out(1, 'X');
    out += le32(uint32_t(s.size()));
    return out + s;
}
inline std::string pk_int(int64_t v) {
    std::string out(1, 'J');
    out += le32(uint32_t(int32_t(v)));
    return out;
}
inline std::string pk_global(const std::string& module, const std::string& name) {
    return "c" + module + "\n" + name + "\n";
}

inline std::string state_dict_pickle(const std::vector<PthTensor>& tensors) {
    std::string p = "\x80\x02}(";
    for (std::size_t k = 0; k < tensors.size(); ++k) {
        const PthTensor& t = tensors[k];
        int64_t numel = 1;
        for (auto d : t.shape) numel *= d;
        std::string size = "(", stride = "(";
        int64_t s = 1;
        std::vector<int64_t> strides(t.shape.size());
        for (std::size_t i = t.shape.size(); i-- > 0;) strides[i] = s, s *= t.shape[i];
        for (std::size_t i = 0; i < t.shape.size(); ++i) size += pk_int(t.shape[i]), stride += pk_int(strides[i]);
        p += pk_str(t.name) + pk_global("torch._utils", "_rebuild_tensor_v2") + "((" + pk_str("storage") +
             pk_global("torch", t.storage_type) + pk_str(std::to_string(k)) + pk_str("cpu") + pk_int(numel) + "tQ" +
             pk_int(0) + size + "t" + stride + "t\x89" + pk_global("collections", "OrderedDict") + ")RtR";
    }
    return p + "u.";
}

// A zip archive of stored entries (PKWARE APPNOTE 4.3), as torch.save lays it out.
inline std::string stored_zip(const std::vector<std::pair<std::string, std::string>>& entries) {
    std::string out, cd;
    for (const auto& [name, data] : entries) {
        const uint32_t crc = crc32(reinterpret_cast<const std::byte*>(data.data()), data.size());
        const uint32_t offset = uint32_t(out.size());
        out += le32(0x04034b50) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0) + le32(crc) +
               le32(uint32_t(data.size())) + le32(uint32_t(data.size())) + le16(uint16_t(name.size())) + le16(0) +
               name + data;
        cd += le32(0x02014b50) + le16(20) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0) + le32(crc) +
              le32(uint32_t(data.size())) + le32(uint32_t(data.size())) + le16(uint16_t(name.size())) + le16(0) +
              le16(0) + le16(0) + le16(0) + le32(0) + le32(offset) + name;
    }
    const uint32_t cd_offset = uint32_t(out.size());
    out += cd;
    out += le32(0x06054b50) + le16(0) + le16(0) + le16(uint16_t(entries.size())) + le16(uint16_t(entries.size())) +
           le32(uint32_t(cd.size())) + le32(cd_offset) + le16(0);
    return out;
}

inline std::string pth_archive(const std::vector<PthTensor>& tensors, const std::string& pickle) {
    std::vector<std::pair<std::string, std::string>> entries{{"archive/data.pkl", pickle}};
    for (std::size_t k = 0; k < tensors.size(); ++k)
        entries.push_back({"archive/data/" + std::to_string(k), tensors[k].bytes});
    entries.push_back({"archive/version", "3\n"});
    return stored_zip(entries);
}

inline void write_pth(const std::string& path, const std::vector<PthTensor>& tensors) {
    std::ofstream f(path, std::ios::binary);
    const std::string z = pth_archive(tensors, state_dict_pickle(tensors));
    f.write(z.data(), std::streamsize(z.size()));
}

}  // namespace llamaref::test
