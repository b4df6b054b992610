#include <gtest/gtest.h>

#include "nettrail/recording.h"
#include "testing/test_recordings.h"

namespace nettrail {
namespace {

TEST(Recording, RoundTripsSyntheticDrops) {
  testing::SyntheticRecording rec;
  for (int i = 0; i < 2500; ++i) rec.drops.push_back({.time_ns = 2'000'000'000ull + i * 1000ull});
  const std::string path = testing::tempPath("roundtrip.ntr");
  testing::writeSyntheticRecording(path, rec);
  auto reader = RecordingReader::open(path);
  ASSERT_TRUE(reader.isOk()) << reader.status().message();
  EXPECT_EQ(std::string((*reader)->header().getHostName().cStr()), "synthetic-test");
  uint64_t drops = 0;
  uint64_t last_time = 0;
  Status status = (*reader)->forEachChunk([&](Chunk::Reader chunk) {
    if (chunk.which() == Chunk::BATCH && chunk.getBatch().which() == Batch::DROP) {
      auto events = chunk.getBatch().getDrop().getEvents();
      uint64_t t = events.getBaseTimeNs();
      for (uint64_t d : events.getTimeDelta()) {
        t += d;
        EXPECT_GT(t, last_time);
        last_time = t;
        ++drops;
      }
    }
    return Status::ok();
  });
  ASSERT_TRUE(status.isOk()) << status.message();
  EXPECT_EQ(drops, 2500u);
  EXPECT_EQ(last_time, 2'000'000'000ull + 2499 * 1000ull);
  EXPECT_TRUE((*reader)->report().has_trailer);
  EXPECT_FALSE((*reader)->report().truncated);
  EXPECT_TRUE((*reader)->report().problems.empty());
  std::remove(path.c_str());
}

}  // namespace
}  // namespace nettrail
