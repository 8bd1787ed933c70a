// llamaref/formats/mmap.hpp — read-only memory-mapped files and a bounds-checked byte reader.
//
// Checkpoints are used in place: the file is mapped once and weight views point into it, so a
// model needs no more memory than its file (the OS pages weights in as they are read). Every
// read goes through ByteReader, which checks the bounds first and names the file and offset in
// its error, so a truncated or corrupt file can never make llamaref read outside it.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../core/dtype.hpp"
#include "../core/error.hpp"

namespace llamaref {

class MappedFile {
  public:
    explicit MappedFile(std::string path) : path_(std::move(path)) {
        const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) fail(path_, ": cannot open: ", std::strerror(errno));
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            ::close(fd);
            fail(path_, ": not a regular file");
        }
        size_ = std::size_t(st.st_size);
        if (size_ > 0) {
            void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                const int e = errno;
                ::close(fd);
                fail(path_, ": cannot map ", size_, " bytes: ", std::strerror(e));
            }
            data_ = static_cast<const std::byte*>(p);
        }
        ::close(fd);
    }
    ~MappedFile() {
        if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
    }
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const std::byte* data() const { return data_; }
    std::size_t size() const { return size_; }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

// Sequential little-endian reads from [data, data+size) that never leave the range.
class ByteReader {
  public:
    ByteReader(const std::byte* data, std::size_t size, std::string name)
        : data_(data), size_(size), name_(std::move(name)) {}
    explicit ByteReader(const MappedFile& f) : ByteReader(f.data(), f.size(), f.path()) {}

    std::size_t offset() const { return pos_; }
    std::size_t size() const { return size_; }
    std::size_t remaining() const { return size_ - pos_; }
    const std::string& name() const { return name_; }

    // Throws unless n more bytes are available; `what` says what was being read.
    void need(std::size_t n, std::string_view what) const {
        if (n > remaining())
            fail(name_, ": truncated: ", what, " needs ", n, " bytes at offset ", pos_, " but the file has only ",
                 remaining(), " left (", size_, " bytes in all)");
    }

    template <class T>
    T read(std::string_view what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, data_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    // A pointer to the next n bytes, then skip them.
    const std::byte* take(std::size_t n, std::string_view what) {
        need(n, what);
        const std::byte* p = data_ + pos_;
        pos_ += n;
        return p;
    }

    std::string read_string(std::size_t n, std::string_view what) {
        const std::byte* p = take(n, what);
        return std::string(reinterpret_cast<const char*>(p), n);
    }

    void seek(std::size_t pos) {
        if (pos > size_) fail(name_, ": offset ", pos, " is past the end of the file (", size_, " bytes)");
        pos_ = pos;
    }

  private:
    const std::byte* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
    std::string name_;
};

// A buffer that keeps converted or permuted tensors alive next to a mapped file.
inline std::shared_ptr<std::vector<std::byte>> make_buffer(std::size_t n) {
    return std::make_shared<std::vector<std::byte>>(n);
}

// Element reads must be aligned: a view that a file placed at an odd offset (safetensors and zip
// entries may start anywhere) is copied into a buffer that `storage` keeps alive; an aligned view
// is returned as it is. (F32 needs 4 bytes; F16, BF16 and Q8_0 blocks, whose scale is a uint16, 2.)
template <class View, class Storage>
View aligned_or_copied(View v, Storage& storage) {
    const std::size_t align = v.dtype == DType::F32 ? 4 : 2;
    if (reinterpret_cast<std::uintptr_t>(v.data) % align == 0) return v;
    auto buf = make_buffer(v.nbytes());
    std::copy_n(v.data, v.nbytes(), buf->data());
    storage.push_back(buf);
    v.data = buf->data();
    return v;
}

}  // namespace llamaref
