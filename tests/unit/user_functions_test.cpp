// Finding user functions by name for uprobes (the locks family): the file
// offset computed from the symbol and its PT_LOAD segment must hold the same
// bytes the dynamic linker mapped at the function's address in this process,
// for glibc's versioned exports too.
#include <gtest/gtest.h>

#ifdef NT_HAVE_RECORDER
#include <dlfcn.h>
#include <link.h>

#include <cstring>
#include <fstream>
#include <vector>

#include "snapshot/user_symbols.h"

namespace nettrail {
namespace {

// The file that defines `address` in this process.
std::string fileOf(void* address) {
  Dl_info info{};
  if (dladdr(address, &info) == 0 || !info.dli_fname) return "";
  return info.dli_fname;
}

TEST(ReadUserFunctions, OffsetsHoldTheMappedFunctionBytes) {
  for (const char* name : {"pthread_rwlock_wrlock", "pthread_rwlock_rdlock", "pthread_mutex_lock"}) {
    SCOPED_TRACE(name);
    void* address = dlsym(RTLD_DEFAULT, name);
    ASSERT_NE(address, nullptr);
    const std::string path = fileOf(address);
    ASSERT_FALSE(path.empty());
    UserBinary elf;
    ASSERT_TRUE(readUserFunctions(path, {name, "no_such_function_here"}, elf));
    uint64_t offset = UINT64_MAX;
    for (const UserElfSymbol& sym : elf.symbols) {
      EXPECT_NE(sym.name, "no_such_function_here");
      if (sym.name == name) offset = elf.fileOffsetOfElfAddress(sym.value);
    }
    ASSERT_NE(offset, UINT64_MAX);
    std::ifstream file(path, std::ios::binary);
    file.seekg(static_cast<std::streamoff>(offset));
    std::vector<char> bytes(16);
    ASSERT_TRUE(file.read(bytes.data(), static_cast<std::streamsize>(bytes.size())));
    EXPECT_EQ(std::memcmp(bytes.data(), address, bytes.size()), 0);
  }
}

TEST(ReadUserFunctions, NotAnElfFile) {
  UserBinary elf;
  EXPECT_FALSE(readUserFunctions("/proc/self/status", {"main"}, elf));
  EXPECT_FALSE(readUserFunctions("/nonexistent/libc.so.6", {"main"}, elf));
}

TEST(FileOffsetOfElfAddress, OutsideEverySegment) {
  UserBinary elf;
  elf.loads.push_back({0x1000, 0x401000, 0x200});
  EXPECT_EQ(elf.fileOffsetOfElfAddress(0x401010), 0x1010u);
  EXPECT_EQ(elf.fileOffsetOfElfAddress(0x401200), UINT64_MAX);
  EXPECT_EQ(elf.fileOffsetOfElfAddress(0x100), UINT64_MAX);
}

}  // namespace
}  // namespace nettrail
#endif
