// The reader's promise (schema/recording.capnp): a recording cut off at any byte
// reads up to its last whole frame and reports what was lost; a corrupt or
// foreign file gets a clear error, never a crash. The writer's half: a full
// disk leaves a file that ends on a whole frame.
#include <capnp/any.h>
#include <capnp/dynamic.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "nettrail/recording.h"
#include "testing/requirements.h"
#include "testing/test_recordings.h"

namespace nettrail {
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Deterministic drops with varied fields so batches compress to real blocks.
testing::SyntheticRecording variedRecording(size_t drops, size_t per_batch, uint64_t seed) {
  testing::SyntheticRecording rec;
  rec.drops_per_batch = per_batch;
  std::mt19937_64 rng(seed);
  uint64_t t = 2'000'000'000ull;
  for (size_t i = 0; i < drops; ++i) {
    t += 1 + rng() % 100'000;
    testing::SyntheticDrop d;
    d.time_ns = t;
    d.reason = static_cast<uint16_t>(rng() % 8);
    d.src_v4 = static_cast<uint32_t>(rng());
    d.src_port = static_cast<uint16_t>(rng());
    d.tid = static_cast<uint32_t>(100 + rng() % 4);
    rec.drops.push_back(d);
  }
  return rec;
}

std::string writeToBytes(const testing::SyntheticRecording& rec) {
  const std::string path = testing::tempPath("robust.ntr");
  testing::writeSyntheticRecording(path, rec);
  std::string bytes = testing::readFile(path);
  std::remove(path.c_str());
  return bytes;
}

// Frames of a file as found by walking it with zstd alone, independently of the
// reader: where each ends and how many drop events it holds.
struct Frame {
  size_t begin = 0;
  size_t end = 0;
  uint64_t events = 0;
};

constexpr size_t kMagicBytes = 8 + sizeof(kFileMagic) + 4;

std::vector<Frame> framesOf(const std::string& bytes) {
  std::vector<Frame> frames;
  size_t offset = kMagicBytes;
  while (offset < bytes.size()) {
    size_t n = ZSTD_findFrameCompressedSize(bytes.data() + offset, bytes.size() - offset);
    EXPECT_FALSE(ZSTD_isError(n)) << "at " << offset;
    if (ZSTD_isError(n)) break;
    unsigned long long content = ZSTD_getFrameContentSize(bytes.data() + offset, n);
    std::vector<capnp::word> words(content / sizeof(capnp::word));
    EXPECT_EQ(ZSTD_decompress(words.data(), content, bytes.data() + offset, n), content);
    capnp::FlatArrayMessageReader message(kj::ArrayPtr<const capnp::word>(words.data(), words.size()));
    Chunk::Reader chunk = message.getRoot<Chunk>();
    Frame frame{offset, offset + n, 0};
    if (chunk.which() == Chunk::BATCH && chunk.getBatch().which() == Batch::DROP)
      frame.events = chunk.getBatch().getDrop().getEvents().getTimeDelta().size();
    frames.push_back(frame);
    offset += n;
  }
  return frames;
}

// Reads every field of a value (what a thorough caller could do with a chunk).
void touchAll(const capnp::DynamicValue::Reader& value) {
  switch (value.getType()) {
    case capnp::DynamicValue::TEXT:
      value.as<capnp::Text>();
      break;
    case capnp::DynamicValue::DATA:
      value.as<capnp::Data>();
      break;
    case capnp::DynamicValue::LIST:
      for (auto element : value.as<capnp::DynamicList>()) touchAll(element);
      break;
    case capnp::DynamicValue::STRUCT: {
      auto s = value.as<capnp::DynamicStruct>();
      for (auto field : s.getSchema().getNonUnionFields()) touchAll(s.get(field));
      KJ_IF_MAYBE(field, s.which()) { touchAll(s.get(*field)); }
      break;
    }
    default:
      break;
  }
}

struct Walk {
  Status status;
  uint64_t events = 0;
  uint64_t chunks = 0;
};

Walk walk(RecordingReader& reader) {
  Walk w;
  w.status = reader.forEachChunk([&](Chunk::Reader chunk) {
    ++w.chunks;
    touchAll(capnp::toDynamic(chunk));
    if (chunk.which() == Chunk::BATCH && chunk.getBatch().which() == Batch::DROP)
      w.events += chunk.getBatch().getDrop().getEvents().getTimeDelta().size();
    return Status::ok();
  });
  return w;
}

bool anyProblemMentions(const ReadReport& report, const std::string& what) {
  for (const auto& p : report.problems)
    if (p.find(what) != std::string::npos) return true;
  return false;
}

class RecordingRobustness : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    bytes_ = new std::string(writeToBytes(variedRecording(500, 100, 1)));
    frames_ = new std::vector<Frame>(framesOf(*bytes_));
  }
  static void TearDownTestSuite() {
    delete bytes_;
    delete frames_;
  }
  static std::string* bytes_;
  static std::vector<Frame>* frames_;
};
std::string* RecordingRobustness::bytes_ = nullptr;
std::vector<Frame>* RecordingRobustness::frames_ = nullptr;

TEST_F(RecordingRobustness, TheFileUnderTestHasSeveralBatches) {
  // header, anchor, interfaces, processes, symbols, stacks, 5 batches, stats, trailer
  ASSERT_EQ(frames_->size(), 13u);
  uint64_t events = 0;
  for (const Frame& f : *frames_) events += f.events;
  EXPECT_EQ(events, 500u);
  EXPECT_EQ(frames_->back().end, bytes_->size());
  auto reader = RecordingReader::fromBytes(*bytes_, "whole.ntr");
  ASSERT_TRUE(reader.isOk()) << reader.status().message();
  Walk w = walk(**reader);
  ASSERT_TRUE(w.status.isOk()) << w.status.message();
  EXPECT_EQ(w.events, 500u);
  const ReadReport& report = (*reader)->report();
  EXPECT_TRUE(report.has_trailer);
  EXPECT_FALSE(report.truncated);
  EXPECT_FALSE(report.corrupt);
  EXPECT_TRUE(report.problems.empty());
  EXPECT_EQ(report.bytes_used, bytes_->size());
  EXPECT_EQ(report.frames_read, frames_->size());
}

TEST_F(RecordingRobustness, EveryCutReadsUpToTheLastWholeFrame) {
  const std::string& bytes = *bytes_;
  const std::vector<Frame>& frames = *frames_;
  const size_t header_end = frames.front().end;
  for (size_t cut = 0; cut <= bytes.size(); ++cut) {
    SCOPED_TRACE("cut at byte " + std::to_string(cut) + " of " + std::to_string(bytes.size()));
    auto reader = RecordingReader::fromBytes(bytes.substr(0, cut), "cut.ntr");
    if (cut == 0) {
      ASSERT_FALSE(reader.isOk());
      EXPECT_PRED2(contains, reader.status().message(), "empty file");
      continue;
    }
    if (cut < kMagicBytes) {
      ASSERT_FALSE(reader.isOk());
      EXPECT_PRED2(contains, reader.status().message(), "cut.ntr: truncated inside the file magic");
      continue;
    }
    if (cut < header_end) {
      ASSERT_FALSE(reader.isOk());
      EXPECT_PRED2(contains, reader.status().message(), "cut.ntr: header unreadable");
      EXPECT_PRED2(contains, reader.status().message(), "file cut off before the header was complete");
      continue;
    }
    ASSERT_TRUE(reader.isOk()) << reader.status().message();
    uint64_t expected_events = 0;
    uint64_t whole_frames = 0;
    size_t last_end = 0;
    for (const Frame& f : frames) {
      if (f.end > cut) break;
      expected_events += f.events;
      ++whole_frames;
      last_end = f.end;
    }
    Walk w = walk(**reader);
    ASSERT_TRUE(w.status.isOk()) << w.status.message();
    const ReadReport& report = (*reader)->report();
    EXPECT_EQ(w.events, expected_events);
    EXPECT_EQ(w.chunks + 1, whole_frames);
    EXPECT_EQ(report.frames_read, whole_frames);
    EXPECT_EQ(report.bytes_used, last_end);
    EXPECT_EQ(report.file_bytes, cut);
    EXPECT_EQ(report.truncated, cut != last_end);
    EXPECT_FALSE(report.corrupt) << (report.problems.empty() ? "" : report.problems.front());
    EXPECT_EQ(report.has_trailer, cut == bytes.size());
    EXPECT_EQ(report.missing_chunks, 0u);
    if (cut != last_end) {
      ASSERT_FALSE(report.problems.empty());
      EXPECT_PRED2(contains, report.problems.front(), "cut off inside the frame at byte " + std::to_string(last_end));
    } else if (cut != bytes.size()) {
      EXPECT_TRUE(anyProblemMentions(report, "no trailer"));
    }
    if (::testing::Test::HasFailure()) break;  // one cut's story is enough
  }
}

// The content a frame of `bytes` starting at `begin` decodes to, or nullopt if
// zstd rejects it (bad structure, content size or checksum).
std::optional<std::string> decodedFrame(const std::string& bytes, size_t begin) {
  size_t n = ZSTD_findFrameCompressedSize(bytes.data() + begin, bytes.size() - begin);
  if (ZSTD_isError(n)) return std::nullopt;
  unsigned long long content = ZSTD_getFrameContentSize(bytes.data() + begin, n);
  if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN || content > (1u << 24))
    return std::nullopt;
  std::string out(content, '\0');
  size_t got = ZSTD_decompress(out.data(), out.size(), bytes.data() + begin, n);
  if (ZSTD_isError(got) || got != content) return std::nullopt;
  return out;
}

// XORs one byte with 0xFF at every position: the magic, the version, the header
// frame and every data frame. Never a crash; damage to the magic or header is an
// open error, damage to a data frame is reported corrupt at that frame. zstd
// ignores a few bits (e.g. in entropy table descriptions); a flip there decodes
// to the same content under the same checksum, so nothing was lost and the file
// must read cleanly.
TEST_F(RecordingRobustness, EveryFlippedByteIsAnErrorOrReportedCorrupt) {
  const std::string& bytes = *bytes_;
  const std::vector<Frame>& frames = *frames_;
  size_t harmless = 0;
  for (size_t pos = 0; pos < bytes.size(); ++pos) {
    SCOPED_TRACE("byte " + std::to_string(pos) + " flipped");
    std::string damaged = bytes;
    damaged[pos] = static_cast<char>(damaged[pos] ^ 0xFF);
    size_t frame = 0;
    uint64_t events_before = 0;
    while (pos >= kMagicBytes && frames[frame].end <= pos) events_before += frames[frame++].events;
    const bool same_content = pos >= kMagicBytes && decodedFrame(damaged, frames[frame].begin) ==
                                                        decodedFrame(bytes, frames[frame].begin);
    auto reader = RecordingReader::fromBytes(damaged, "flipped.ntr");
    if (pos < frames.front().end && !same_content) {
      ASSERT_FALSE(reader.isOk()) << "damage to the magic or header went unnoticed";
      EXPECT_PRED2(contains, reader.status().message(), "flipped.ntr: ");
      continue;
    }
    ASSERT_TRUE(reader.isOk()) << reader.status().message();
    Walk w = walk(**reader);
    ASSERT_TRUE(w.status.isOk()) << w.status.message();
    const ReadReport& report = (*reader)->report();
    if (same_content) {
      ++harmless;
      EXPECT_FALSE(report.corrupt);
      EXPECT_TRUE(report.has_trailer);
      EXPECT_EQ(report.bytes_used, bytes.size());
      EXPECT_EQ(w.events, 500u);
    } else {
      EXPECT_TRUE(report.corrupt) << (report.problems.empty() ? "no problem reported" : report.problems.front());
      EXPECT_FALSE(report.truncated);
      EXPECT_EQ(report.bytes_used, frames[frame].begin);
      EXPECT_EQ(report.frames_read, frame);
      EXPECT_EQ(w.events, events_before);
      EXPECT_FALSE(report.has_trailer);
    }
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_LT(harmless, bytes.size() / 100) << "most flips must change a frame's content";
  std::printf("%zu of %zu flips were in bits zstd ignores\n", harmless, bytes.size());
}

// Random multi-byte damage, bit flips, cuts and splices over the same file:
// never a crash, and the report never claims more bytes than the file has.
// (Damage can be invisible: a splice of a whole frame elsewhere is a valid file.)
TEST_F(RecordingRobustness, RandomDamageNeverCrashes) {
  std::mt19937_64 rng(0x6e74726cu);
  for (int i = 0; i < 3000; ++i) {
    std::string damaged = *bytes_;
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      size_t pos = kMagicBytes + rng() % (damaged.size() - kMagicBytes);
      switch (rng() % 4) {
        case 0: damaged[pos] = static_cast<char>(damaged[pos] ^ (1u << (rng() % 8))); break;
        case 1: damaged[pos] = static_cast<char>(rng()); break;
        case 2: damaged.erase(pos, 1 + rng() % 64); break;
        default: {
          size_t from = kMagicBytes + rng() % (bytes_->size() - kMagicBytes);
          damaged.insert(pos, bytes_->substr(from, 1 + rng() % 256));
        }
      }
      if (damaged.size() <= kMagicBytes) damaged = *bytes_;
    }
    auto reader = RecordingReader::fromBytes(damaged, "damaged.ntr");
    if (!reader.isOk()) {
      EXPECT_FALSE(reader.status().message().empty());
      continue;
    }
    touchAll(capnp::toDynamic((*reader)->header()));
    Walk w = walk(**reader);
    ASSERT_TRUE(w.status.isOk()) << w.status.message();
    const ReadReport& report = (*reader)->report();
    EXPECT_LE(report.bytes_used, damaged.size());
  }
}

TEST(RecordingForeignFiles, AreNotNettrailRecordings) {
  std::vector<std::pair<std::string, std::string>> files;
  files.emplace_back("empty", "");
  files.emplace_back("text", "Subject: hello\n\nThis is a text file, not a recording.\n");
  {
    std::mt19937_64 rng(7);
    std::string random(4096, '\0');
    for (char& c : random) c = static_cast<char>(rng());
    std::string zst(ZSTD_compressBound(random.size()), '\0');
    size_t n = ZSTD_compress(zst.data(), zst.size(), random.data(), random.size(), 3);
    ASSERT_FALSE(ZSTD_isError(n));
    zst.resize(n);
    files.emplace_back("random.zst", zst);
  }
  files.emplace_back("png", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0", 33));
  files.emplace_back("elf", std::string("\x7f" "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0\x01\0\0\0", 24) +
                                std::string(64, '\0'));
  // A skippable frame of someone else's (another magic in the 0x184D2A5x range).
  files.emplace_back("skippable", std::string("\x50\x2a\x4d\x18\x0c\0\0\0OTHERTHING\0\0", 20));
  for (const auto& [name, bytes] : files) {
    SCOPED_TRACE(name);
    auto reader = RecordingReader::fromBytes(bytes, name);
    ASSERT_FALSE(reader.isOk());
    EXPECT_PRED2(contains, reader.status().message(), name + ": ");
    EXPECT_PRED2(contains, reader.status().message(), "not a nettrail recording");
  }
}

TEST(RecordingVersions, ANewerFormatAsksForAnUpgrade) {
  std::string bytes = writeToBytes(variedRecording(10, 10, 2));
  const uint32_t newer = kFormatVersion + 1;
  std::memcpy(bytes.data() + 8 + sizeof(kFileMagic), &newer, 4);
  auto reader = RecordingReader::fromBytes(bytes, "newer.ntr");
  ASSERT_FALSE(reader.isOk());
  EXPECT_PRED2(contains, reader.status().message(), "newer.ntr: ");
  EXPECT_PRED2(contains, reader.status().message(), "version " + std::to_string(newer));
  EXPECT_PRED2(contains, reader.status().message(), "upgrade");
}

TEST(RecordingTrailer, AMissingTrailerIsReported) {
  testing::SyntheticRecording rec = variedRecording(250, 100, 3);
  rec.trailer = false;
  auto reader = RecordingReader::fromBytes(writeToBytes(rec), "killed.ntr");
  ASSERT_TRUE(reader.isOk()) << reader.status().message();
  Walk w = walk(**reader);
  ASSERT_TRUE(w.status.isOk());
  EXPECT_EQ(w.events, 250u);
  const ReadReport& report = (*reader)->report();
  EXPECT_FALSE(report.has_trailer);
  EXPECT_FALSE(report.truncated);
  EXPECT_FALSE(report.corrupt);
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_PRED2(contains, report.problems.front(), "no trailer");
}

// A member added to Batch by a newer recorder: counted, skipped, the walk goes on.
TEST(RecordingUnknownBatch, IsCountedAndDoesNotStopTheWalk) {
  const std::string path = testing::tempPath("unknown-batch.ntr");
  {
    auto created = RecordingWriter::create(path);
    ASSERT_TRUE(created.isOk()) << created.status().message();
    RecordingWriter& writer = **created;
    auto write = [&](capnp::MallocMessageBuilder& m) {
      Status s = writer.write(m);
      ASSERT_TRUE(s.isOk()) << s.message();
    };
    {
      capnp::MallocMessageBuilder m;
      auto header = m.initRoot<Chunk>().initHeader();
      header.setFormatVersion(kFormatVersion);
      header.setHostName("synthetic-test");
      write(m);
    }
    auto dropBatch = [&](uint32_t n) {
      capnp::MallocMessageBuilder m;
      auto events = m.initRoot<Chunk>().initBatch().initDrop().initEvents();
      events.setBaseTimeNs(1);
      events.initTimeDelta(n);
      write(m);
    };
    dropBatch(3);
    {
      // Batch's discriminant set beyond its known members, with a pointer
      // field the future member might use.
      capnp::MallocMessageBuilder m;
      Batch::Builder batch = m.initRoot<Chunk>().initBatch();
      batch.initDrop().initEvents().initTimeDelta(5);
      const uint32_t members = capnp::Schema::from<Batch>().getUnionFields().size();
      const uint32_t offset = capnp::Schema::from<Batch>().getProto().getStruct().getDiscriminantOffset();
      capnp::AnyStruct::Builder any = capnp::toAny(batch);
      auto data = any.getDataSection();
      ASSERT_GE(data.size(), (offset + 1) * 2u);
      const uint16_t future = static_cast<uint16_t>(members + 5);
      std::memcpy(data.begin() + offset * 2, &future, 2);
      ASSERT_EQ(static_cast<uint32_t>(batch.which()), future);
      write(m);
    }
    dropBatch(4);
    {
      capnp::MallocMessageBuilder m;
      m.initRoot<Chunk>().initTrailer().setReason("synthetic");
      write(m);
    }
    ASSERT_TRUE(writer.close().isOk());
  }
  auto reader = RecordingReader::open(path);
  std::remove(path.c_str());
  ASSERT_TRUE(reader.isOk()) << reader.status().message();
  Walk w = walk(**reader);
  ASSERT_TRUE(w.status.isOk()) << w.status.message();
  EXPECT_EQ(w.events, 7u);
  EXPECT_EQ(w.chunks, 4u);
  const ReadReport& report = (*reader)->report();
  EXPECT_EQ(report.unknown_batches, 1u);
  EXPECT_TRUE(report.has_trailer);
  EXPECT_FALSE(report.corrupt);
  EXPECT_FALSE(report.truncated);
}

// ------------------------------------------------------------ disk full

class RecordingDiskFull : public ::testing::Test {
 protected:
  void SetUp() override {
    NT_REQUIRE_ROOT();
    dir_ = testing::tempPath("full");
    ASSERT_EQ(mkdir(dir_.c_str(), 0700), 0) << dir_ << ": " << std::strerror(errno);
    if (mount("nettrail-full", dir_.c_str(), "tmpfs", 0, "size=64k") != 0) {
      const int err = errno;
      rmdir(dir_.c_str());
      dir_.clear();
      NT_SKIP_OR_FAIL(std::string("needs to mount a tmpfs (root with CAP_SYS_ADMIN): mount: ") +
                      std::strerror(err));
    }
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) {
      EXPECT_EQ(umount2(dir_.c_str(), MNT_DETACH), 0) << dir_ << ": " << std::strerror(errno);
    }
    if (!dir_.empty()) rmdir(dir_.c_str());
  }
  std::string dir_;
  bool mounted_ = false;
};

// A batch of incompressible values, so the small filesystem fills in a few chunks.
void fillBatch(capnp::MallocMessageBuilder& m, std::mt19937_64& rng) {
  auto events = m.initRoot<Chunk>().initBatch().initDrop().initEvents();
  auto delta = events.initTimeDelta(1024);
  for (uint32_t i = 0; i < delta.size(); ++i) delta.set(i, rng());
}

TEST_F(RecordingDiskFull, WriteFailsWithEnospcAndTheFileEndsOnAWholeFrame) {
  const std::string path = dir_ + "/full.ntr";
  auto created = RecordingWriter::create(path);
  ASSERT_TRUE(created.isOk()) << created.status().message();
  RecordingWriter& writer = **created;
  {
    capnp::MallocMessageBuilder m;
    auto header = m.initRoot<Chunk>().initHeader();
    header.setFormatVersion(kFormatVersion);
    header.setHostName("synthetic-test");
    ASSERT_TRUE(writer.write(m).isOk());
  }
  std::mt19937_64 rng(11);
  Status failed;
  uint64_t batches = 0;
  for (int i = 0; i < 1000 && failed.isOk(); ++i) {
    capnp::MallocMessageBuilder m;
    fillBatch(m, rng);
    failed = writer.write(m);
    if (failed.isOk()) ++batches;
  }
  ASSERT_FALSE(failed.isOk()) << "64 KiB filesystem never filled up";
  ASSERT_GT(batches, 0u);
  EXPECT_PRED2(contains, failed.message(), path);
  EXPECT_PRED2(contains, failed.message(), "ENOSPC");
  {
    capnp::MallocMessageBuilder m;
    fillBatch(m, rng);
    Status again = writer.write(m);
    ASSERT_FALSE(again.isOk());
    EXPECT_EQ(again.message(), failed.message());
  }
  {
    // Even a tiny chunk that would fit is refused: the error is sticky.
    capnp::MallocMessageBuilder m;
    m.initRoot<Chunk>().initTrailer();
    Status again = writer.write(m);
    ASSERT_FALSE(again.isOk());
    EXPECT_EQ(again.message(), failed.message());
  }
  const uint64_t written = writer.bytesWritten();
  EXPECT_EQ(writer.chunksWritten(), batches + 1);
  Status closed = writer.close();
  EXPECT_FALSE(closed.isOk());

  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), written) << "a torn frame was left at the end";
  auto reader = RecordingReader::open(path);
  ASSERT_TRUE(reader.isOk()) << reader.status().message();
  uint64_t read_batches = 0;
  Status walked = (*reader)->forEachChunk([&](Chunk::Reader chunk) {
    if (chunk.which() == Chunk::BATCH) ++read_batches;
    return Status::ok();
  });
  ASSERT_TRUE(walked.isOk()) << walked.message();
  const ReadReport& report = (*reader)->report();
  EXPECT_EQ(read_batches, batches);
  EXPECT_FALSE(report.truncated);
  EXPECT_FALSE(report.corrupt);
  EXPECT_EQ(report.bytes_used, written);
  EXPECT_EQ(report.frames_read, batches + 1);
  EXPECT_TRUE(anyProblemMentions(report, "no trailer"));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace nettrail
