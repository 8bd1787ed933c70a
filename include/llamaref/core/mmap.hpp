// llamaref/core/mmap.hpp — read-only memory-mapped files and a bounds-checked byte reader.
//
// Checkpoints are used in place: the file is mapped once and weight views point into it, so a
// model needs no more memory than its file (the OS pages weights in as they are read). Every
// read goes through ByteReader, which checks the bounds first and names the file and offset in
// its error, so a truncated or corrupt file can never make llamaref read outside it.
//
// Or, with set_file_loading(FileLoading::read) (the CLI's --no-mmap, as in llama.cpp), the file
// is read once into the process's own memory, in 2 MiB pages where the kernel allows: the same
// bytes and the same memory, plus a copy at load time. Why offer it: on some machines reading
// the weights through the file mapping is much slower than from private memory. Measured on a
// 2-core cloud VM (AMD Zen 5), TinyLlama-1.1B BF16, one thread: decode 4.8 tok/s mapped, 7.6–9.0
// read; llama.cpp on the same file and machine: 9.4 (its default, mapped) and 15.2 (--no-mmap).
// There the slow pages were the page cache's old ones: the same file freshly copied (new pages)
// read as fast mapped as read in (a matrix-vector product over 2 GB, 120 passes: 23 GB/s, the
// old file's pages 4–23 GB/s from pass to pass; guest fault counts unchanged, so the host's doing).
// MAP_POPULATE, MAP_SHARED, MADV_WILLNEED / SEQUENTIAL / HUGEPAGE changed nothing measurable.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dtype.hpp"
#include "error.hpp"

namespace llamaref {

// How MappedFile brings a file into memory: mapped (the default) or read into private memory.
enum class FileLoading { mapped, read };

namespace detail {
inline FileLoading& file_loading_setting() {
    static FileLoading mode = FileLoading::mapped;
    return mode;
}
}  // namespace detail

// For every file opened from now on (in this process).
inline void set_file_loading(FileLoading mode) { detail::file_loading_setting() = mode; }
inline FileLoading file_loading() { return detail::file_loading_setting(); }

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
        if (size_ > 0 && file_loading() == FileLoading::read) {
            read_into_memory(fd);
        } else if (size_ > 0) {
            void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                const int e = errno;
                ::close(fd);
                fail(path_, ": cannot map ", size_, " bytes: ", std::strerror(e));
            }
            map_ = p, map_size_ = size_;
            data_ = static_cast<const std::byte*>(p);
        }
        ::close(fd);
    }
    ~MappedFile() {
        if (map_) ::munmap(map_, map_size_);
    }
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const std::byte* data() const { return data_; }
    std::size_t size() const { return size_; }
    const std::string& path() const { return path_; }

  private:
    // FileLoading::read: anonymous memory aligned to 2 MiB and marked for huge pages (a hint the
    // kernel may ignore), filled with pread; closes fd and throws on failure.
    void read_into_memory(int fd) {
        constexpr std::size_t huge = std::size_t(2) << 20;
        map_size_ = size_ + huge;
        void* p = ::mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            const int e = errno;
            ::close(fd);
            fail(path_, ": cannot allocate ", size_, " bytes to read it into: ", std::strerror(e));
        }
        map_ = p;
        auto* dst = reinterpret_cast<std::byte*>((reinterpret_cast<std::uintptr_t>(p) + huge - 1) / huge * huge);
#ifdef MADV_HUGEPAGE
        ::madvise(dst, size_, MADV_HUGEPAGE);
#endif
        for (std::size_t done = 0; done < size_;) {
            const ssize_t n =
                ::pread(fd, dst + done, std::min<std::size_t>(size_ - done, std::size_t(1) << 30), off_t(done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                const int e = n < 0 ? errno : 0;
                ::close(fd);
                ::munmap(map_, map_size_);
                map_ = nullptr;
                fail(path_, ": cannot read it (", done, " of ", size_,
                     " bytes read): ", e ? std::strerror(e) : "the file ended early");
            }
            done += std::size_t(n);
        }
        ::mprotect(p, map_size_, PROT_READ);  // as read-only as a mapping
        data_ = dst;
    }

    std::string path_;
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
    void* map_ = nullptr;  // what munmap gets: the mapping, or the memory the file was read into
    std::size_t map_size_ = 0;
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
