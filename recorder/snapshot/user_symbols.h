#pragma once
// User-space symbolization facts, gathered on the recorded host while the
// process is alive: which file each stack address lies in (/proc/PID/maps),
// where that file's ELF address space starts, its build-id, and its function
// symbols. The recording carries these, so the analyzer resolves user frames on
// another machine, after the binary is gone.
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace nettrail {

struct UserElfSymbol {
  uint64_t value = 0;  // st_value
  uint64_t size = 0;
  std::string name;
};

// One file, read once: its function symbols sorted by value.
struct UserBinary {
  uint32_t id = 0;  // recording-wide, nonzero
  bool readable = false;
  std::string build_id;  // raw bytes of NT_GNU_BUILD_ID
  struct Load {
    uint64_t offset, vaddr, filesz;
  };
  std::vector<Load> loads;  // PT_LOAD segments
  std::vector<UserElfSymbol> symbols;

  // The ELF virtual address at file offset `offset`.
  uint64_t elfAddressOfOffset(uint64_t offset) const;
  // The file offset of ELF address `vaddr` (inside a PT_LOAD), or UINT64_MAX.
  uint64_t fileOffsetOfElfAddress(uint64_t vaddr) const;
  // Index of the function covering ELF address `vaddr`, or -1.
  long symbolAt(uint64_t vaddr) const;
};

struct UserMappingEntry {
  uint32_t pid = 0;
  uint64_t start = 0, end = 0, offset = 0;
  uint64_t elf_address = 0;  // ELF virtual address of `start`
  std::string path;
  const UserBinary* binary = nullptr;  // null for anonymous, [vdso] or unreadable files
};

class UserSymbolizer {
 public:
  // `proc_root` is "/proc"; tests may point it elsewhere.
  explicit UserSymbolizer(std::string proc_root = "/proc") : proc_root_(std::move(proc_root)) {}

  // The executable mapping of `pid` covering `address`, reading /proc/PID/maps
  // (again, once, when the address is not in the cached copy). nullptr when the
  // process is gone or nothing executable is mapped there.
  const UserMappingEntry* find(uint32_t pid, uint64_t address);
  // Forget a process's maps (it exited, or its pid may be reused).
  void forget(uint32_t pid) { processes_.erase(pid); }

 private:
  struct ProcessMaps {
    std::vector<std::unique_ptr<UserMappingEntry>> mappings;  // sorted by start
    bool reread = false;  // one reread per miss streak
  };
  bool readMaps(uint32_t pid, ProcessMaps& out);
  const UserBinary* binaryFor(uint32_t pid, const std::string& key, const std::string& path, uint64_t start,
                              uint64_t end);

  std::string proc_root_;
  std::unordered_map<uint32_t, ProcessMaps> processes_;
  std::unordered_map<std::string, std::unique_ptr<UserBinary>> binaries_;  // by dev:inode
  uint32_t next_binary_id_ = 1;
};

// Reads `path` as ELF: PT_LOAD segments, build-id, function symbols
// (.symtab, else .dynsym). False when it is not a readable ELF file.
bool readUserBinary(const std::string& path, UserBinary& out);

// One line of /proc/PID/maps.
struct ProcMapsLine {
  uint64_t start = 0, end = 0, offset = 0, inode = 0;
  char perms[8] = {};
  char dev[32] = {};
  std::string path;  // the rest of the line (file path, [vdso], or empty); untrusted text
};
// Parses one /proc/PID/maps line; false if it is not one.
bool parseProcMapsLine(const char* line, ProcMapsLine& out);

// Reads `path` as ELF for attaching uprobes by file offset: PT_LOAD segments
// and the function symbols named in `names` from .dynsym and .symtab, aliases
// included (ELF names carry no @VERSION, so glibc's versioned exports match
// their plain names). False when it is not a readable ELF file.
bool readUserFunctions(const std::string& path, const std::vector<std::string>& names, UserBinary& out);

}  // namespace nettrail
