#include "snapshot/user_symbols.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace nettrail {

uint64_t UserBinary::elfAddressOfOffset(uint64_t offset) const {
  for (const Load& load : loads) {
    // Mappings start at page-aligned offsets, at or below the segment's p_offset.
    const uint64_t page_offset = load.offset & ~uint64_t{0xfff};
    if (offset >= page_offset && offset < load.offset + load.filesz)
      return load.vaddr - (load.offset - page_offset) + (offset - page_offset);
  }
  return offset;  // no PT_LOAD covers it: position-independent files have vaddr == offset
}

long UserBinary::symbolAt(uint64_t vaddr) const {
  auto it = std::upper_bound(symbols.begin(), symbols.end(), vaddr,
                             [](uint64_t a, const UserElfSymbol& s) { return a < s.value; });
  while (it != symbols.begin()) {
    --it;
    if (vaddr - it->value < std::max<uint64_t>(it->size, 1)) return it - symbols.begin();
    // Sizeless symbols (hand-written assembly) cover up to the next symbol.
    if (it->size == 0) return (it + 1 == symbols.end() || vaddr < (it + 1)->value) ? it - symbols.begin() : -1;
    if (it->value + it->size <= vaddr) return -1;
  }
  return -1;
}

uint64_t UserBinary::fileOffsetOfElfAddress(uint64_t vaddr) const {
  for (const Load& load : loads)
    if (vaddr >= load.vaddr && vaddr < load.vaddr + load.filesz) return vaddr - load.vaddr + load.offset;
  return UINT64_MAX;
}

namespace {

// Reads `path` as ELF into `out`: PT_LOAD segments, build-id and function
// symbols. With `only` null: .symtab, else .dynsym, one name per address
// (for symbolizing). With `only`: every symbol of either table whose name is
// in it, aliases included (for finding functions by name).
bool readElf(const std::string& path, const std::vector<std::string>* only, UserBinary& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct FdOwner {
    int fd;
    ~FdOwner() { ::close(fd); }
  } fd_owner{fd};
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  if (!elf) return false;
  struct ElfOwner {
    Elf* elf;
    ~ElfOwner() { elf_end(elf); }
  } elf_owner{elf};
  if (elf_kind(elf) != ELF_K_ELF) return false;
  size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) != 0) return false;
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr phdr;
    if (!gelf_getphdr(elf, static_cast<int>(i), &phdr)) continue;
    if (phdr.p_type == PT_LOAD) out.loads.push_back({phdr.p_offset, phdr.p_vaddr, phdr.p_filesz});
  }
  std::vector<UserElfSymbol> symtab, dynsym;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr shdr;
    if (!gelf_getshdr(scn, &shdr)) continue;
    if (shdr.sh_type == SHT_NOTE && out.build_id.empty()) {
      Elf_Data* data = elf_getdata(scn, nullptr);
      size_t offset = 0, name_offset = 0, desc_offset = 0;
      GElf_Nhdr nhdr;
      while (data && (offset = gelf_getnote(data, offset, &nhdr, &name_offset, &desc_offset)) > 0) {
        if (nhdr.n_type == NT_GNU_BUILD_ID && nhdr.n_namesz == 4 &&
            std::memcmp(static_cast<const char*>(data->d_buf) + name_offset, "GNU", 4) == 0) {
          out.build_id.assign(static_cast<const char*>(data->d_buf) + desc_offset, nhdr.n_descsz);
          break;
        }
      }
      continue;
    }
    if (shdr.sh_type != SHT_SYMTAB && shdr.sh_type != SHT_DYNSYM) continue;
    std::vector<UserElfSymbol>& into = shdr.sh_type == SHT_SYMTAB ? symtab : dynsym;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data || shdr.sh_entsize == 0) continue;
    const size_t count = shdr.sh_size / shdr.sh_entsize;
    for (size_t i = 0; i < count; ++i) {
      GElf_Sym sym;
      if (!gelf_getsym(data, static_cast<int>(i), &sym)) continue;
      const int type = GELF_ST_TYPE(sym.st_info);
      if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_value == 0 || sym.st_shndx == SHN_UNDEF) continue;
      const char* name = elf_strptr(elf, shdr.sh_link, sym.st_name);
      if (!name || !*name) continue;
      if (only && std::find(only->begin(), only->end(), name) == only->end()) continue;
      into.push_back({sym.st_value, sym.st_size, name});
    }
  }
  if (only) {
    out.symbols = std::move(dynsym);
    out.symbols.insert(out.symbols.end(), symtab.begin(), symtab.end());
    out.readable = true;
    return true;
  }
  out.symbols = symtab.empty() ? std::move(dynsym) : std::move(symtab);
  std::sort(out.symbols.begin(), out.symbols.end(), [](const UserElfSymbol& a, const UserElfSymbol& b) {
    return a.value != b.value ? a.value < b.value : a.size > b.size;
  });
  // Aliases share an address; keep the first (largest) so lookups are unambiguous.
  out.symbols.erase(std::unique(out.symbols.begin(), out.symbols.end(),
                                [](const UserElfSymbol& a, const UserElfSymbol& b) { return a.value == b.value; }),
                    out.symbols.end());
  out.readable = true;
  return true;
}

}  // namespace

bool readUserBinary(const std::string& path, UserBinary& out) { return readElf(path, nullptr, out); }

bool readUserFunctions(const std::string& path, const std::vector<std::string>& names, UserBinary& out) {
  return readElf(path, &names, out);
}

bool parseProcMapsLine(const char* line, ProcMapsLine& out) {
  int consumed = 0;
  if (std::sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %31s %" SCNu64 " %n", &out.start, &out.end,
                  out.perms, &out.offset, out.dev, &out.inode, &consumed) < 6)
    return false;
  out.path = line + consumed;
  while (!out.path.empty() && (out.path.back() == '\n' || out.path.back() == ' ')) out.path.pop_back();
  return true;
}

bool UserSymbolizer::readMaps(uint32_t pid, ProcessMaps& out) {
  const std::string path = proc_root_ + "/" + std::to_string(pid) + "/maps";
  FILE* f = std::fopen(path.c_str(), "re");
  if (!f) return false;
  out.mappings.clear();
  char line[4096 + 256];
  while (std::fgets(line, sizeof(line), f)) {
    ProcMapsLine parsed;
    if (!parseProcMapsLine(line, parsed) || parsed.perms[2] != 'x') continue;
    const uint64_t start = parsed.start, end = parsed.end, offset = parsed.offset, inode = parsed.inode;
    const char* dev = parsed.dev;
    const std::string& file = parsed.path;
    auto entry = std::make_unique<UserMappingEntry>();
    entry->pid = pid;
    entry->start = start;
    entry->end = end;
    entry->offset = offset;
    entry->path = file;
    entry->elf_address = offset;
    if (inode != 0 && !file.empty() && file[0] == '/') {
      entry->binary = binaryFor(pid, std::string(dev) + ":" + std::to_string(inode), file, start, end);
      if (entry->binary) entry->elf_address = entry->binary->elfAddressOfOffset(offset);
    }
    out.mappings.push_back(std::move(entry));
  }
  std::fclose(f);
  std::sort(out.mappings.begin(), out.mappings.end(),
            [](const auto& a, const auto& b) { return a->start < b->start; });
  return true;
}

const UserBinary* UserSymbolizer::binaryFor(uint32_t pid, const std::string& key, const std::string& path,
                                            uint64_t start, uint64_t end) {
  auto it = binaries_.find(key);
  if (it != binaries_.end()) return it->second->readable ? it->second.get() : nullptr;
  auto binary = std::make_unique<UserBinary>();
  // map_files reaches the mapped file even when it was deleted or replaced, or
  // lives in another mount namespace; the process root is the fallback.
  char map_file[96];
  std::snprintf(map_file, sizeof(map_file), "/%u/map_files/%" PRIx64 "-%" PRIx64, pid, start, end);
  if (!readUserBinary(proc_root_ + map_file, *binary)) {
    *binary = UserBinary();
    readUserBinary(proc_root_ + "/" + std::to_string(pid) + "/root" + path, *binary);
  }
  if (binary->readable) binary->id = next_binary_id_++;
  const UserBinary* result = binary->readable ? binary.get() : nullptr;
  binaries_.emplace(key, std::move(binary));
  return result;
}

const UserMappingEntry* UserSymbolizer::find(uint32_t pid, uint64_t address) {
  auto it = processes_.find(pid);
  bool fresh = false;
  if (it == processes_.end()) {
    ProcessMaps maps;
    if (!readMaps(pid, maps)) return nullptr;
    it = processes_.emplace(pid, std::move(maps)).first;
    fresh = true;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    const auto& mappings = it->second.mappings;
    auto m = std::upper_bound(mappings.begin(), mappings.end(), address,
                              [](uint64_t a, const auto& entry) { return a < entry->start; });
    if (m != mappings.begin() && address < (*(m - 1))->end) {
      it->second.reread = false;
      return (m - 1)->get();
    }
    // A miss in a cached copy: the process may have mapped something since (dlopen).
    if (fresh || it->second.reread) return nullptr;
    it->second.reread = true;
    if (!readMaps(pid, it->second)) return nullptr;
  }
  return nullptr;
}

}  // namespace nettrail
