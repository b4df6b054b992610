// Every file the programs write, attacked as someone with a shell on the same
// host would (issue 16): a symbolic link planted at the output name, at the
// temporary names earlier versions used, and at SQLite's side files. The link's
// target must stay untouched and the program must either refuse with a clear
// error or replace the link itself; files are 0600 under umask 022, 0640 with
// --group-readable.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "cli.h"
#include "nettrail/recording.h"
#include "testing/test_recordings.h"
#ifdef NT_HAVE_RECORDER
#include "recording_sink.h"
#endif

namespace nettrail {
namespace {

struct CliRun {
  int rc;
  std::string out;
  std::string err;
};

CliRun run(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  CliContext cli{out, err, false};
  const int rc = runCli(args, cli);
  return {rc, out.str(), err.str()};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class OutputWritersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/nettrail-writers-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    old_umask_ = umask(022);
    testing::SyntheticRecording rec;
    for (int i = 0; i < 3; ++i) rec.drops.push_back({.time_ns = 2'000'000'000ull + i * 1000ull});
    recording_ = at("in.ntr");
    testing::writeSyntheticRecording(recording_, rec);
    std::ofstream(at("victim")) << "precious";
  }
  void TearDown() override {
    umask(old_umask_);
    std::string command = "rm -rf '" + dir_ + "'";
    (void)std::system(command.c_str());
  }
  std::string at(const std::string& name) const { return dir_ + "/" + name; }
  void plantLink(const std::string& name) { ASSERT_EQ(symlink(at("victim").c_str(), at(name).c_str()), 0) << name; }
  std::string victim() const { return testing::readFile(at("victim")); }
  struct stat lstatOf(const std::string& name) const {
    struct stat st = {};
    EXPECT_EQ(lstat(at(name).c_str(), &st), 0) << name;
    return st;
  }
  std::set<std::string> entries() const {
    std::set<std::string> out;
    DIR* d = opendir(dir_.c_str());
    while (dirent* e = readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.insert(e->d_name);
    closedir(d);
    return out;
  }
  // A link planted at `name`: either refused with a message naming the link,
  // or replaced by a regular private file; never written through.
  void expectRefusedOrReplaced(const CliRun& r, const std::string& name) {
    EXPECT_EQ(victim(), "precious") << r.err;
    if (r.rc == kExitOk) {
      EXPECT_TRUE(S_ISREG(lstatOf(name).st_mode)) << name;
      EXPECT_EQ(lstatOf(name).st_mode & 07777, 0600u) << name;
    } else {
      EXPECT_TRUE(contains(r.err, at(name))) << r.err;
      EXPECT_TRUE(contains(r.err, "symbolic link")) << r.err;
      EXPECT_TRUE(S_ISLNK(lstatOf(name).st_mode)) << name;
    }
  }

  std::string dir_, recording_;
  mode_t old_umask_ = 0;
};

// ---------------------------------------------------------------- modes

TEST_F(OutputWritersTest, EveryAnalyzerOutputIsPrivateUnderUmask022) {
  ASSERT_EQ(run({"ingest", recording_, "-o", at("out.db")}).rc, kExitOk);
  ASSERT_EQ(run({"report", recording_, "-o", at("out.html")}).rc, kExitOk);
  ASSERT_EQ(run({"diff", recording_, recording_, "-o", at("diff.html")}).rc, kExitOk);
  for (const char* name : {"out.db", "out.html", "diff.html"}) {
    EXPECT_TRUE(S_ISREG(lstatOf(name).st_mode)) << name;
    EXPECT_EQ(lstatOf(name).st_mode & 07777, 0600u) << name;
  }
  // Nothing else left behind: no temporary, no journal.
  EXPECT_EQ(entries(), (std::set<std::string>{"in.ntr", "victim", "out.db", "out.html", "diff.html"}));
}

TEST_F(OutputWritersTest, GroupReadableGivesExactly0640EvenUnderUmask077) {
  umask(077);
  ASSERT_EQ(run({"ingest", recording_, "-o", at("out.db"), "--group-readable"}).rc, kExitOk);
  ASSERT_EQ(run({"report", recording_, "-o", at("out.html"), "--group-readable"}).rc, kExitOk);
  ASSERT_EQ(run({"diff", recording_, recording_, "-o", at("diff.html"), "--group-readable"}).rc, kExitOk);
  for (const char* name : {"out.db", "out.html", "diff.html"}) EXPECT_EQ(lstatOf(name).st_mode & 07777, 0640u) << name;
}

TEST_F(OutputWritersTest, AnImportedDatabaseKeepsItsModeAndLeavesNoJournal) {
  ASSERT_EQ(run({"ingest", recording_, "-o", at("out.db")}).rc, kExitOk);
  std::ofstream(at("ping.log")) << "[1700000002.000000] 64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.5 ms\n";
  CliRun r = run({"import", at("out.db"), at("ping.log"), "--format", "ping"});
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_EQ(lstatOf("out.db").st_mode & 07777, 0600u);
  EXPECT_FALSE(entries().count("out.db-journal"));
}

// ---------------------------------------------------------------- links at the output name

TEST_F(OutputWritersTest, IngestRefusesALinkAtItsOutputAndForceReplacesTheLinkItself) {
  plantLink("out.db");
  CliRun r = run({"ingest", recording_, "-o", at("out.db")});
  EXPECT_EQ(r.rc, kExitError);
  EXPECT_TRUE(contains(r.err, "exists; use --force")) << r.err;
  EXPECT_EQ(victim(), "precious");
  EXPECT_TRUE(S_ISLNK(lstatOf("out.db").st_mode));
  r = run({"ingest", recording_, "-o", at("out.db"), "--force"});
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  expectRefusedOrReplaced(r, "out.db");
  r = run({"query", at("out.db"), "SELECT COUNT(*) AS n FROM drop_event", "--format", "csv"});
  EXPECT_EQ(r.out, "n\n3\n") << r.err;
}

TEST_F(OutputWritersTest, ReportNeverWritesThroughALinkAtItsOutput) {
  plantLink("out.html");
  CliRun r = run({"report", recording_, "-o", at("out.html")});
  expectRefusedOrReplaced(r, "out.html");
}

TEST_F(OutputWritersTest, DiffNeverWritesThroughALinkAtItsOutput) {
  plantLink("diff.html");
  CliRun r = run({"diff", recording_, recording_, "-o", at("diff.html")});
  expectRefusedOrReplaced(r, "diff.html");
}

TEST_F(OutputWritersTest, ADanglingLinkCreatesNothingWhereItPoints) {
  ASSERT_EQ(symlink(at("created-by-attacker").c_str(), at("out.html").c_str()), 0);
  ASSERT_EQ(symlink(at("created-by-attacker2").c_str(), at("out.db").c_str()), 0);
  (void)run({"report", recording_, "-o", at("out.html")});
  (void)run({"ingest", recording_, "-o", at("out.db")});
  EXPECT_FALSE(entries().count("created-by-attacker"));
  EXPECT_FALSE(entries().count("created-by-attacker2"));
}

// ---------------------------------------------------------------- links at temporary names

TEST_F(OutputWritersTest, LinksAtTheOldPredictableTemporaryNamesAreNotFollowed) {
  // What earlier versions used: OUT.tmp (report, diff), OUT.partial-PID (ingest).
  plantLink("out.html.tmp");
  plantLink("diff.html.tmp");
  plantLink("out.db.partial-" + std::to_string(getpid()));
  ASSERT_EQ(run({"report", recording_, "-o", at("out.html")}).rc, kExitOk);
  ASSERT_EQ(run({"diff", recording_, recording_, "-o", at("diff.html")}).rc, kExitOk);
  ASSERT_EQ(run({"ingest", recording_, "-o", at("out.db")}).rc, kExitOk);
  EXPECT_EQ(victim(), "precious");
  for (const char* name : {"out.html", "diff.html", "out.db"}) EXPECT_TRUE(S_ISREG(lstatOf(name).st_mode)) << name;
  EXPECT_TRUE(contains(testing::readFile(at("out.html")), "<!DOCTYPE html>"));
}

TEST_F(OutputWritersTest, SqliteSideFilesAreNeverOpenedThroughALink) {
  // ingest builds with no journal at all; import and correlate write into an
  // existing database, whose rollback journal SQLite opens with O_NOFOLLOW.
  ASSERT_EQ(run({"ingest", recording_, "-o", at("out.db")}).rc, kExitOk);
  plantLink("out.db-journal");
  plantLink("out.db-wal");
  std::ofstream(at("ping.log")) << "[1700000002.000000] 64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.5 ms\n";
  CliRun r = run({"import", at("out.db"), at("ping.log"), "--format", "ping"});
  EXPECT_EQ(victim(), "precious") << r.err;
  EXPECT_EQ(r.rc, kExitError);  // the journal cannot be created: SQLite says so
  EXPECT_TRUE(contains(r.err, "unable to open")) << r.err;
  r = run({"correlate", at("out.db")});
  EXPECT_EQ(victim(), "precious") << r.err;
  EXPECT_TRUE(S_ISLNK(lstatOf("out.db-journal").st_mode));
}

#ifdef NT_HAVE_RECORDER
// ---------------------------------------------------------------- the recorder's segments

// Writes a header and then `batches` batches (with max_bytes 1, one rotation each).
Status recordSegments(RecordingSink& sink, int batches) {
  NT_RETURN_IF_ERROR(sink.open([](Header::Builder header, uint32_t) {
    header.setFormatVersion(kFormatVersion);
    header.setHostName("writers-test");
  }));
  for (int i = 0; i < batches; ++i) {
    capnp::MallocMessageBuilder message;
    message.initRoot<Chunk>().initBatch().initDrop();
    NT_RETURN_IF_ERROR(sink.writeBatch(message));
  }
  return sink.close("test");
}

TEST_F(OutputWritersTest, RecordingRefusesALinkAtItsNameAndForceReplacesTheLink) {
  plantLink("rec.ntr");
  Status free = RecordingSink::checkNamesFree(at("rec.ntr"), false, "use --force");
  ASSERT_FALSE(free.isOk());
  EXPECT_TRUE(contains(free.message(), "symbolic link")) << free.message();
  {
    RecordingSink sink(at("rec.ntr"), RotationPolicy{}, 1, nullptr);
    Status s = recordSegments(sink, 0);
    ASSERT_FALSE(s.isOk());
    EXPECT_TRUE(contains(s.message(), "symbolic link")) << s.message();
  }
  EXPECT_EQ(victim(), "precious");
  OutputOptions replace;
  replace.replace = true;
  RecordingSink sink(at("rec.ntr"), RotationPolicy{}, 1, nullptr, replace);
  Status s = recordSegments(sink, 0);
  ASSERT_TRUE(s.isOk()) << s.message();
  EXPECT_EQ(victim(), "precious");
  EXPECT_TRUE(S_ISREG(lstatOf("rec.ntr").st_mode));
  EXPECT_EQ(lstatOf("rec.ntr").st_mode & 07777, 0600u);
  EXPECT_TRUE(RecordingReader::open(at("rec.ntr")).isOk());
}

TEST_F(OutputWritersTest, RotatedSegmentsNeverWriteThroughALink) {
  plantLink("rec.2.ntr");
  Status free = RecordingSink::checkNamesFree(at("rec.ntr"), true, "use --force");
  ASSERT_FALSE(free.isOk());
  EXPECT_TRUE(contains(free.message(), at("rec.2.ntr"))) << free.message();
  EXPECT_TRUE(RecordingSink::checkNamesFree(at("rec.ntr"), false, "").isOk());  // not rotating: only rec.ntr counts
  RotationPolicy policy;
  policy.max_bytes = 1;  // a new segment after every batch
  {
    RecordingSink sink(at("rec.ntr"), policy, 1, nullptr);
    Status s = recordSegments(sink, 3);
    ASSERT_FALSE(s.isOk());
    EXPECT_TRUE(contains(s.message(), at("rec.2.ntr"))) << s.message();
    EXPECT_TRUE(contains(s.message(), "symbolic link")) << s.message();
  }
  EXPECT_EQ(victim(), "precious");
  OutputOptions replace;
  replace.replace = true;
  policy.max_files = 2;  // rec.ntr and rec.1.ntr are removed by name: unlinkat, never the target
  RecordingSink sink(at("rec.ntr"), policy, 1, nullptr, replace);
  Status s = recordSegments(sink, 3);
  ASSERT_TRUE(s.isOk()) << s.message();
  EXPECT_EQ(victim(), "precious");
  EXPECT_EQ(entries(), (std::set<std::string>{"in.ntr", "victim", "rec.2.ntr", "rec.3.ntr"}));
  for (const char* name : {"rec.2.ntr", "rec.3.ntr"}) {
    EXPECT_TRUE(S_ISREG(lstatOf(name).st_mode)) << name;
    EXPECT_EQ(lstatOf(name).st_mode & 07777, 0600u) << name;
  }
}
#endif

}  // namespace
}  // namespace nettrail
