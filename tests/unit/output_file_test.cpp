// The one way both programs create files (schema/include/nettrail/output_file.h):
// links planted at the output name or at a temporary name are never followed,
// modes are exact whatever the umask, names appear only when promised.
#include "nettrail/output_file.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace nettrail {
namespace {

using Naming = OutputFile::Naming;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void spit(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class OutputFileFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/nettrail-output-file-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    old_umask_ = umask(022);
  }
  void TearDown() override {
    umask(old_umask_);
    std::string command = "rm -rf '" + dir_ + "'";
    (void)std::system(command.c_str());
  }
  std::string at(const std::string& name) const { return dir_ + "/" + name; }
  std::set<std::string> entries() const {
    std::set<std::string> out;
    DIR* d = opendir(dir_.c_str());
    while (dirent* e = readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.insert(e->d_name);
    closedir(d);
    return out;
  }
  // Creates, writes, commits; the status of the first step that fails.
  Status writeWith(const std::string& path, Naming naming, const OutputOptions& options, const std::string& text) {
    NT_ASSIGN_OR_RETURN(std::unique_ptr<OutputFile> file, OutputFile::create(path, naming, options));
    NT_RETURN_IF_ERROR(file->write(text));
    return file->commit();
  }
  mode_t modeOf(const std::string& path) const {
    struct stat st;
    EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
    return st.st_mode;
  }

  std::string dir_;
  mode_t old_umask_ = 0;
};

class OutputFileTest : public OutputFileFixture, public ::testing::WithParamInterface<Naming> {};

INSTANTIATE_TEST_SUITE_P(EveryNaming, OutputFileTest,
                         ::testing::Values(Naming::kAtomic, Naming::kAtomicNamed, Naming::kNow),
                         [](const ::testing::TestParamInfo<Naming>& info) {
                           switch (info.param) {
                             case Naming::kAtomic: return std::string("Atomic");
                             case Naming::kAtomicNamed: return std::string("AtomicNamed");
                             case Naming::kNow: return std::string("Now");
                           }
                           return std::string("Unknown");
                         });

TEST_P(OutputFileTest, NewFileIsPrivateUnderUmask022) {
  const std::string path = at("out.bin");
  Status s = writeWith(path, GetParam(), OutputOptions(), "content");
  ASSERT_TRUE(s.isOk()) << s.message();
  EXPECT_EQ(modeOf(path) & 07777, 0600u);
  EXPECT_TRUE(S_ISREG(modeOf(path)));
  EXPECT_EQ(slurp(path), "content");
  EXPECT_EQ(entries(), std::set<std::string>{"out.bin"});  // no temporary left
}

TEST_P(OutputFileTest, GroupReadableIsExactUnderUmask077) {
  umask(077);
  const std::string path = at("team.bin");
  OutputOptions options;
  options.mode = kGroupReadableFileMode;
  Status s = writeWith(path, GetParam(), options, "x");
  ASSERT_TRUE(s.isOk()) << s.message();
  EXPECT_EQ(modeOf(path) & 07777, 0640u);
}

TEST_P(OutputFileTest, SymlinkAtTheNameIsNotFollowedWithoutReplace) {
  spit(at("victim"), "precious");
  ASSERT_EQ(symlink(at("victim").c_str(), at("out.bin").c_str()), 0);
  OutputOptions options;
  options.exists_hint = "use --force to replace it";
  Status s = writeWith(at("out.bin"), GetParam(), options, "attacker's choice");
  ASSERT_FALSE(s.isOk());
  EXPECT_PRED2(contains, s.message(), "symbolic link");
  EXPECT_PRED2(contains, s.message(), "use --force to replace it");
  EXPECT_EQ(slurp(at("victim")), "precious");
  EXPECT_TRUE(S_ISLNK(modeOf(at("out.bin"))));
  EXPECT_EQ(entries(), (std::set<std::string>{"out.bin", "victim"}));  // the temporary is gone too
}

TEST_P(OutputFileTest, DanglingSymlinkAtTheNameCreatesNothingAtItsTarget) {
  ASSERT_EQ(symlink(at("would-be-created").c_str(), at("out.bin").c_str()), 0);
  Status s = writeWith(at("out.bin"), GetParam(), OutputOptions(), "x");
  ASSERT_FALSE(s.isOk());
  EXPECT_FALSE(entries().count("would-be-created"));
}

TEST_P(OutputFileTest, ReplaceSwapsTheLinkItselfAndLeavesItsTarget) {
  spit(at("victim"), "precious");
  ASSERT_EQ(symlink(at("victim").c_str(), at("out.bin").c_str()), 0);
  OutputOptions options;
  options.replace = true;
  Status s = writeWith(at("out.bin"), GetParam(), options, "new");
  ASSERT_TRUE(s.isOk()) << s.message();
  EXPECT_EQ(slurp(at("victim")), "precious");
  EXPECT_TRUE(S_ISREG(modeOf(at("out.bin"))));
  EXPECT_EQ(modeOf(at("out.bin")) & 07777, 0600u);
  EXPECT_EQ(slurp(at("out.bin")), "new");
  EXPECT_EQ(entries(), (std::set<std::string>{"out.bin", "victim"}));
}

TEST_P(OutputFileTest, ReplaceMakesANewFileInsteadOfTruncatingTheOld) {
  spit(at("out.bin"), "old");
  ASSERT_EQ(chmod(at("out.bin").c_str(), 0644), 0);
  // A hard link elsewhere keeps the old inode: it must keep the old content.
  ASSERT_EQ(link(at("out.bin").c_str(), at("hardlink").c_str()), 0);
  OutputOptions options;
  options.replace = true;
  Status s = writeWith(at("out.bin"), GetParam(), options, "new");
  ASSERT_TRUE(s.isOk()) << s.message();
  EXPECT_EQ(slurp(at("hardlink")), "old");
  EXPECT_EQ(slurp(at("out.bin")), "new");
  EXPECT_EQ(modeOf(at("out.bin")) & 07777, 0600u);  // not the old file's 0644
}

TEST_P(OutputFileTest, AnExistingFileIsKeptWithoutReplace) {
  spit(at("out.bin"), "old");
  Status s = writeWith(at("out.bin"), GetParam(), OutputOptions(), "new");
  ASSERT_FALSE(s.isOk());
  EXPECT_PRED2(contains, s.message(), "exists");
  EXPECT_EQ(slurp(at("out.bin")), "old");
  EXPECT_EQ(entries(), std::set<std::string>{"out.bin"});
}

TEST_P(OutputFileTest, ADirectoryAtTheNameIsAnErrorAndStaysEmpty) {
  ASSERT_EQ(mkdir(at("out.bin").c_str(), 0755), 0);
  for (bool replace : {false, true}) {
    OutputOptions options;
    options.replace = replace;
    Status s = writeWith(at("out.bin"), GetParam(), options, "x");
    EXPECT_FALSE(s.isOk()) << "replace=" << replace;
    EXPECT_TRUE(S_ISDIR(modeOf(at("out.bin"))));
    EXPECT_EQ(entries(), std::set<std::string>{"out.bin"});
  }
}

TEST_P(OutputFileTest, UncommittedFileLeavesNoTemporary) {
  {
    auto file = OutputFile::create(at("out.bin"), GetParam(), OutputOptions());
    ASSERT_TRUE(file.isOk()) << file.status().message();
    ASSERT_TRUE((*file)->write("half").isOk());
  }
  if (GetParam() == Naming::kNow) {
    EXPECT_EQ(entries(), std::set<std::string>{"out.bin"});  // a recording keeps what it wrote
    EXPECT_EQ(slurp(at("out.bin")), "half");
  } else {
    EXPECT_TRUE(entries().empty());
  }
}

TEST_P(OutputFileTest, TheNameAppearsWhenPromised) {
  auto file = OutputFile::create(at("out.bin"), GetParam(), OutputOptions());
  ASSERT_TRUE(file.isOk()) << file.status().message();
  EXPECT_EQ(entries().count("out.bin") == 1, GetParam() == Naming::kNow);
  if (GetParam() == Naming::kAtomicNamed) {
    const std::string temp = (*file)->temporaryPath();
    ASSERT_FALSE(temp.empty());
    EXPECT_EQ(temp.rfind(dir_ + "/", 0), 0u) << temp;  // same directory: the rename is atomic
    EXPECT_EQ(modeOf(temp) & 07777, 0600u);
    EXPECT_TRUE(entries().count(temp.substr(dir_.size() + 1)));
  }
  ASSERT_TRUE((*file)->write("whole").isOk());
  Status s = (*file)->commit();
  ASSERT_TRUE(s.isOk()) << s.message();
  EXPECT_EQ(slurp(at("out.bin")), "whole");
  EXPECT_EQ(entries(), std::set<std::string>{"out.bin"});
}

TEST_P(OutputFileTest, LinksAtTheOldPredictableTemporaryNamesAreLeftAlone) {
  // Earlier versions wrote OUT.tmp and OUT.partial-PID.
  spit(at("victim"), "precious");
  const std::string pid_name = "out.bin.partial-" + std::to_string(getpid());
  ASSERT_EQ(symlink(at("victim").c_str(), at("out.bin.tmp").c_str()), 0);
  ASSERT_EQ(symlink(at("victim").c_str(), at(pid_name).c_str()), 0);
  OutputOptions options;
  options.replace = true;
  Status s = writeWith(at("out.bin"), GetParam(), options, "new");
  ASSERT_TRUE(s.isOk()) << s.message();
  EXPECT_EQ(slurp(at("victim")), "precious");
  EXPECT_TRUE(S_ISLNK(modeOf(at("out.bin.tmp"))));
  EXPECT_TRUE(S_ISLNK(modeOf(at(pid_name))));
  EXPECT_EQ(slurp(at("out.bin")), "new");
}

// Only kAtomicNamed always has a temporary name.
TEST_F(OutputFileFixture, TemporaryNamesDifferEveryTime) {
  std::set<std::string> names;
  std::vector<std::unique_ptr<OutputFile>> open;
  for (int i = 0; i < 8; ++i) {
    auto file = OutputFile::create(at("out.bin"), Naming::kAtomicNamed, OutputOptions());
    ASSERT_TRUE(file.isOk()) << file.status().message();
    names.insert((*file)->temporaryPath());
    open.push_back(std::move(*file));
  }
  EXPECT_EQ(names.size(), 8u);
}

TEST_P(OutputFileTest, TheDirectoryIsTheOneOpenedEvenIfItsPathIsSwappedForALink) {
  ASSERT_EQ(mkdir(at("real").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(at("elsewhere").c_str(), 0755), 0);
  std::string name;
  auto dir = OutputDirectory::openFor(at("real/out.bin"), &name);
  ASSERT_TRUE(dir.isOk()) << dir.status().message();
  EXPECT_EQ(name, "out.bin");
  // The directory is moved away and a link to another one takes its path.
  ASSERT_EQ(rename(at("real").c_str(), at("moved").c_str()), 0);
  ASSERT_EQ(symlink(at("elsewhere").c_str(), at("real").c_str()), 0);
  auto file = OutputFile::create(*dir, name, GetParam(), OutputOptions());
  ASSERT_TRUE(file.isOk()) << file.status().message();
  ASSERT_TRUE((*file)->write("x").isOk());
  ASSERT_TRUE((*file)->commit().isOk());
  EXPECT_EQ(slurp(at("moved/out.bin")), "x");
  EXPECT_FALSE(access(at("elsewhere/out.bin").c_str(), F_OK) == 0);
}

TEST(OutputDirectory, RejectsWhatIsNotAFileName) {
  std::string name;
  EXPECT_FALSE(OutputDirectory::openFor("", &name).isOk());
  EXPECT_FALSE(OutputDirectory::openFor("/tmp/", &name).isOk());
  EXPECT_FALSE(OutputDirectory::openFor("/tmp/..", &name).isOk());
  EXPECT_FALSE(OutputDirectory::openFor(".", &name).isOk());
  auto missing = OutputDirectory::openFor("/nonexistent-nettrail-dir/out.html", &name);
  ASSERT_FALSE(missing.isOk());
  EXPECT_PRED2(contains, missing.status().message(), "/nonexistent-nettrail-dir/");
  EXPECT_PRED2(contains, missing.status().message(), "ENOENT");
  auto here = OutputDirectory::openFor("plain-name.html", &name);
  ASSERT_TRUE(here.isOk()) << here.status().message();
  EXPECT_EQ((*here)->pathOf(name), "plain-name.html");
}

TEST(OutputDirectory, RemoveTakesTheLinkNotItsTarget) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/nettrail-output-dir-XXXXXX";
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  spit(pattern + "/victim", "precious");
  ASSERT_EQ(symlink((pattern + "/victim").c_str(), (pattern + "/old.ntr").c_str()), 0);
  auto dir = OutputDirectory::open(pattern);
  ASSERT_TRUE(dir.isOk());
  EXPECT_TRUE((*dir)->has("old.ntr"));
  EXPECT_TRUE((*dir)->isSymlink("old.ntr"));
  EXPECT_TRUE((*dir)->remove("old.ntr").isOk());
  EXPECT_FALSE((*dir)->has("old.ntr"));
  EXPECT_TRUE((*dir)->remove("old.ntr").isOk());  // already gone: fine
  EXPECT_EQ(slurp(pattern + "/victim"), "precious");
  std::string command = "rm -rf '" + pattern + "'";
  (void)std::system(command.c_str());
}

}  // namespace
}  // namespace nettrail
