// nettrail-record as an attacker with a shell on the same host would meet it
// (issue 16): links planted at the recording's name and at its rotated
// segments' names, file modes under umask 022. Needs root, BTF and tracefs.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "integration/netns.h"
#include "nettrail/recording.h"
#include "testing/requirements.h"
#include "testing/test_recordings.h"

namespace nettrail {
namespace {

using testing::shell;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class RecorderFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/nettrail-recorder-files-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    std::ofstream(at("victim")) << "precious";
  }
  void TearDown() override {
    std::string command = "rm -rf '" + dir_ + "'";
    (void)std::system(command.c_str());
  }
  std::string at(const std::string& name) const { return dir_ + "/" + name; }
  void plantLink(const std::string& name) { ASSERT_EQ(symlink(at("victim").c_str(), at(name).c_str()), 0); }
  std::string victim() const { return testing::readFile(at("victim")); }
  struct stat lstatOf(const std::string& name) const {
    struct stat st = {};
    EXPECT_EQ(lstat(at(name).c_str(), &st), 0) << name;
    return st;
  }
  // nettrail-record under umask 022 with `args`; its exit status, output in `out`.
  int record(const std::string& args, std::string* out) {
    return shell("umask 022; " + std::string(NT_RECORD_BIN) + " " + args, out);
  }
  std::string dir_;
};

TEST_F(RecorderFilesTest, ALinkAtTheOutputIsRefusedBeforeAnythingIsLoaded) {
  // Needs no privilege: the check comes before the BPF programs are loaded.
  plantLink("rec.ntr");
  std::string out;
  EXPECT_EQ(record("-d 1 -o " + at("rec.ntr"), &out), 1) << out;
  EXPECT_TRUE(contains(out, at("rec.ntr") + " exists (a symbolic link); use --force")) << out;
  EXPECT_EQ(victim(), "precious");
  EXPECT_TRUE(S_ISLNK(lstatOf("rec.ntr").st_mode));
  // A rotated segment's name counts too when rotating.
  plantLink("long.3.ntr");
  EXPECT_EQ(record("-d 1 --rotate-time 1s -o " + at("long.ntr"), &out), 1) << out;
  EXPECT_TRUE(contains(out, at("long.3.ntr") + " exists (a symbolic link)")) << out;
}

TEST_F(RecorderFilesTest, ForceReplacesTheLinkItselfAndTheRecordingIsPrivate) {
  NT_REQUIRE(Requirement::kRoot | Requirement::kBtf | Requirement::kTracefs);
  plantLink("rec.ntr");
  std::string out;
  ASSERT_EQ(record("-q -d 1 --force -o " + at("rec.ntr"), &out), 0) << out;
  EXPECT_EQ(victim(), "precious");
  EXPECT_TRUE(S_ISREG(lstatOf("rec.ntr").st_mode));
  EXPECT_EQ(lstatOf("rec.ntr").st_mode & 07777, 0600u);
  auto reader = RecordingReader::open(at("rec.ntr"));
  ASSERT_TRUE(reader.isOk()) << reader.status().message();
}

TEST_F(RecorderFilesTest, RotatedSegmentsReplaceLinksAndAreGroupReadableOnRequest) {
  NT_REQUIRE(Requirement::kRoot | Requirement::kBtf | Requirement::kTracefs);
  plantLink("long.1.ntr");
  plantLink("long.2.ntr");
  std::string out;
  ASSERT_EQ(record("-q -d 2.5 --rotate-time 1s --force --group-readable -o " + at("long.ntr"), &out), 0) << out;
  EXPECT_EQ(victim(), "precious");
  for (const char* name : {"long.ntr", "long.1.ntr", "long.2.ntr"}) {
    EXPECT_TRUE(S_ISREG(lstatOf(name).st_mode)) << name;
    EXPECT_EQ(lstatOf(name).st_mode & 07777, 0640u) << name;
    EXPECT_TRUE(RecordingReader::open(at(name)).isOk()) << name;
  }
}

}  // namespace
}  // namespace nettrail
