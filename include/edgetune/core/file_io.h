// File I/O: whole-file reads, read-only memory maps, and atomic writes (temp file + fsync +
// rename), so a crash or Ctrl-C never leaves a half-written checkpoint or export behind.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace et {

std::string read_text_file(const std::string& path);
bool file_exists(const std::string& path);
bool is_directory(const std::string& path);
std::string path_join(const std::string& a, const std::string& b);
std::string parent_path(const std::string& path);
// Creates the directory and its parents; no-op if it exists.
void make_dirs(const std::string& path);

// Writes `data` to `path` atomically.
void write_file_atomic(const std::string& path, std::string_view data);

// Streams a file into `<path>.tmp.<pid>` and renames it over `path` on commit(). If the writer
// is destroyed without commit() (an exception), the temp file is removed and `path` is untouched.
// A process killed while writing leaves the temp file; the run that next owns the folder removes
// it (train/checkpoint.h: remove_stale_temp_files).
//
// Crash tests: with EDGETUNE_TEST_KILL_WRITING=<text> in the environment, a process writing a file
// whose path contains <text> kills itself (SIGKILL) halfway through its first write call, leaving
// exactly what a kill at that moment leaves.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  uint64_t bytes_written() const { return written_; }
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  uint64_t written_ = 0;
  bool committed_ = false;
  bool kill_while_writing_ = false;
};

// A read-only memory map of a whole file.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace et
