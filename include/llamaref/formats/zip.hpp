// llamaref/formats/zip.hpp — reading the entries of a zip archive in place (stored entries only).
//
// Specification: PKWARE's APPNOTE.TXT (sections 4.3 "General format", 4.4 field descriptions,
// 4.5.3 the Zip64 extended information extra field). PyTorch's torch.save writes a zip whose
// entries are all *stored* (method 0, no compression), so an entry's bytes can be used where
// they lie in the mapped file. The layout read here:
//
//   [local file header 0x04034b50 | name | extra | data] ...   one per entry
//   central directory: one header 0x02014b50 per entry (sizes, offset of its local header)
//   [zip64 end of central directory 0x06064b50 + locator 0x07064b50]   when counts overflow
//   end of central directory record 0x06054b50 (+ comment, at most 65535 bytes)
//
// Every offset is checked: the central directory must lie inside the archive, each local header
// and each entry's data before the central directory, and no read leaves the file.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../core/mmap.hpp"

namespace llamaref {

// CRC-32 (ISO 3309, polynomial 0xEDB88320 reflected), as zip stores it.
inline uint32_t crc32(const std::byte* p, std::size_t n) {
    static const auto table = [] {
        std::array<uint32_t, 256> t{};
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    uint32_t c = 0xFFFFFFFFu;
    for (std::size_t i = 0; i < n; ++i) c = table[(c ^ uint32_t(p[i])) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

class ZipArchive {
  public:
    struct Entry {
        std::string name;
        uint16_t method = 0;  // 0 = stored
        uint32_t crc = 0;
        std::size_t size = 0;         // uncompressed = compressed for stored entries
        std::size_t data_offset = 0;  // of the entry's bytes in the file
    };

    explicit ZipArchive(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) {
        const std::string& path = file_->path();
        ByteReader in(*file_);
        const std::size_t n = in.size();
        // 1. The end of central directory record: 22 bytes + a comment of up to 65535 bytes.
        if (n < 22) fail(path, ": not a zip archive (", n, " bytes is too short for its end record)");
        std::size_t eocd = n;
        for (std::size_t p = n - 22 + 1; p-- > 0 && n - p <= 22 + 65535;) {
            in.seek(p);
            if (in.read<uint32_t>("zip end record") == 0x06054b50u) {
                eocd = p;
                break;
            }
        }
        if (eocd == n) fail(path, ": not a zip archive (no end of central directory record)");
        in.seek(eocd + 10);
        uint64_t count = in.read<uint16_t>("zip entry count");
        uint64_t cd_size = in.read<uint32_t>("zip central directory size");
        uint64_t cd_offset = in.read<uint32_t>("zip central directory offset");
        // 2. Zip64: the real values are in the zip64 end record, found through the locator.
        if (count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_offset == 0xFFFFFFFFu) {
            if (eocd < 20) fail(path, ": zip64 archive without its locator");
            in.seek(eocd - 20);
            if (in.read<uint32_t>("zip64 locator") != 0x07064b50u)
                fail(path, ": zip64 locator missing before the end record");
            in.read<uint32_t>("zip64 locator disk");
            const uint64_t rec = in.read<uint64_t>("zip64 end record offset");
            if (rec > eocd - 20) fail(path, ": zip64 end record offset ", rec, " is outside the archive");
            in.seek(std::size_t(rec));
            if (in.read<uint32_t>("zip64 end record") != 0x06064b50u)
                fail(path, ": zip64 end record not found at offset ", rec);
            in.seek(std::size_t(rec) + 24);
            in.read<uint64_t>("zip64 entries on this disk");
            count = in.read<uint64_t>("zip64 entry count");
            cd_size = in.read<uint64_t>("zip64 central directory size");
            cd_offset = in.read<uint64_t>("zip64 central directory offset");
        }
        if (cd_offset > n || cd_size > n - cd_offset)
            fail(path, ": zip central directory (", cd_size, " bytes at offset ", cd_offset,
                 ") is outside the archive of ", n, " bytes");
        if (count > cd_size / 46)
            fail(path, ": zip entry count ", count, " cannot fit in a central directory of ", cd_size, " bytes");
        cd_offset_ = std::size_t(cd_offset);

        // 3. The central directory: one 46-byte header + name + extra + comment per entry.
        ByteReader cd(file_->data() + cd_offset_, std::size_t(cd_size), path + " (zip central directory)");
        for (uint64_t k = 0; k < count; ++k) {
            if (cd.read<uint32_t>("central directory header") != 0x02014b50u)
                fail(path, ": zip central directory entry ", k, " has a bad signature");
            cd.take(4, "versions");
            const uint16_t flags = cd.read<uint16_t>("flags");
            Entry e;
            e.method = cd.read<uint16_t>("compression method");
            cd.take(4, "time and date");
            e.crc = cd.read<uint32_t>("crc-32");
            uint64_t csize = cd.read<uint32_t>("compressed size");
            uint64_t usize = cd.read<uint32_t>("uncompressed size");
            const uint16_t name_len = cd.read<uint16_t>("name length");
            const uint16_t extra_len = cd.read<uint16_t>("extra length");
            const uint16_t comment_len = cd.read<uint16_t>("comment length");
            cd.take(8, "disk number and attributes");
            uint64_t local = cd.read<uint32_t>("local header offset");
            e.name = cd.read_string(name_len, "entry name");
            ByteReader extra(cd.take(extra_len, "extra field"), extra_len,
                             path + " (zip extra field of " + e.name + ")");
            cd.take(comment_len, "entry comment");
            if (flags & 1) fail(path, ": zip entry ", e.name, " is encrypted");
            // Zip64 extra field (id 1): the 64-bit values of the fields that read 0xFFFFFFFF, in order.
            while (extra.remaining() >= 4) {
                const uint16_t id = extra.read<uint16_t>("extra id");
                const uint16_t len = extra.read<uint16_t>("extra length");
                ByteReader field(extra.take(len, "extra data"), len, extra.name());
                if (id != 1) continue;
                if (usize == 0xFFFFFFFFu) usize = field.read<uint64_t>("zip64 uncompressed size");
                if (csize == 0xFFFFFFFFu) csize = field.read<uint64_t>("zip64 compressed size");
                if (local == 0xFFFFFFFFu) local = field.read<uint64_t>("zip64 local header offset");
            }
            if (e.method == 0 && csize != usize)
                fail(path, ": stored zip entry ", e.name, " has compressed size ", csize, " but size ", usize);
            e.size = std::size_t(csize);
            // 4. The local header: its own name and extra lengths decide where the data starts.
            if (local > cd_offset_ || cd_offset_ - local < 30)
                fail(path, ": zip entry ", e.name, ": local header offset ", local,
                     " is outside the archive's entries");
            in.seek(std::size_t(local));
            if (in.read<uint32_t>("local header") != 0x04034b50u)
                fail(path, ": zip entry ", e.name, ": no local header at offset ", local);
            in.seek(std::size_t(local) + 26);
            const std::size_t lname = in.read<uint16_t>("local name length");
            const std::size_t lextra = in.read<uint16_t>("local extra length");
            e.data_offset = std::size_t(local) + 30 + lname + lextra;
            if (e.data_offset > cd_offset_ || e.size > cd_offset_ - e.data_offset)
                fail(path, ": zip entry ", e.name, " (", e.size, " bytes at offset ", e.data_offset,
                     ") extends past the entries into the central directory or outside the archive");
            if (index_.count(e.name)) fail(path, ": zip entry ", e.name, " appears twice");
            index_[e.name] = entries_.size();
            entries_.push_back(std::move(e));
        }
    }

    const std::string& path() const { return file_->path(); }
    const std::vector<Entry>& entries() const { return entries_; }
    const Entry* find(const std::string& name) const {
        auto it = index_.find(name);
        return it == index_.end() ? nullptr : &entries_[it->second];
    }
    // The bytes of a stored entry, in place. With verify_crc the CRC-32 is checked first.
    const std::byte* data(const Entry& e, bool verify_crc = false) const {
        if (e.method != 0)
            fail(path(), ": zip entry ", e.name, " is compressed (method ", e.method,
                 "); llamaref reads stored entries, as torch.save writes them");
        const std::byte* p = file_->data() + e.data_offset;
        if (verify_crc && crc32(p, e.size) != e.crc) fail(path(), ": zip entry ", e.name, " fails its CRC-32 check");
        return p;
    }

  private:
    std::shared_ptr<const MappedFile> file_;
    std::size_t cd_offset_ = 0;
    std::vector<Entry> entries_;
    std::map<std::string, std::size_t> index_;
};

}  // namespace llamaref
