// A plain main for the recording reader fuzz target when it is not built with
// libFuzzer, so CI exercises it: runs LLVMFuzzerTestOneInput over a seed corpus
// generated in-process from synthetic recordings, over any files named on the
// command line, and over deterministic mutations of the seeds.
//
//   recording_reader_fuzz [--iterations N] [--seed S] [--write-corpus DIR] [FILE...]
//
// --write-corpus writes the seeds to DIR (a starting corpus for libFuzzer) and exits.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <zstd.h>

#include "nettrail/recording.h"
#include "testing/test_recordings.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using nettrail::testing::SyntheticDrop;
using nettrail::testing::SyntheticRecording;

std::string recordingBytes(const SyntheticRecording& recording) {
  const std::string path = nettrail::testing::tempPath("fuzz-seed.ntr");
  nettrail::testing::writeSyntheticRecording(path, recording);
  std::string bytes = nettrail::testing::readFile(path);
  std::remove(path.c_str());
  return bytes;
}

// The "NTFZ" form of a recording (see recording_reader_fuzz.cpp): each frame's
// decompressed content as a length-prefixed record.
std::string structuredForm(const std::string& file) {
  std::string out = "NTFZ";
  size_t at = 8 + sizeof(nettrail::kFileMagic) + 4;
  while (at < file.size()) {
    size_t n = ZSTD_findFrameCompressedSize(file.data() + at, file.size() - at);
    unsigned long long content = ZSTD_isError(n) ? ZSTD_CONTENTSIZE_ERROR : ZSTD_getFrameContentSize(file.data() + at, n);
    if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN) break;
    std::string record(content, '\0');
    if (ZSTD_isError(ZSTD_decompress(record.data(), record.size(), file.data() + at, n))) break;
    const uint32_t length = static_cast<uint32_t>(record.size());
    out.append(reinterpret_cast<const char*>(&length), 4);
    out += record;
    at += n;
  }
  return out;
}

std::vector<std::string> seedCorpus() {
  std::vector<std::string> seeds;
  std::mt19937_64 rng(1);
  auto drops = [&](size_t n) {
    std::vector<SyntheticDrop> out;
    uint64_t t = 1'000'000'000;
    for (size_t i = 0; i < n; ++i) {
      SyntheticDrop d;
      t += 1 + rng() % 5000;
      d.time_ns = t;
      d.reason = static_cast<uint16_t>(rng() % 8);
      d.src_port = static_cast<uint16_t>(rng());
      out.push_back(d);
    }
    return out;
  };
  SyntheticRecording empty;
  seeds.push_back(recordingBytes(empty));
  SyntheticRecording small;
  small.drops = drops(5);
  seeds.push_back(recordingBytes(small));
  SyntheticRecording batches;
  batches.drops = drops(60);
  batches.drops_per_batch = 20;
  seeds.push_back(recordingBytes(batches));
  SyntheticRecording killed = batches;
  killed.trailer = false;
  seeds.push_back(recordingBytes(killed));
  SyntheticRecording hostile = small;
  hostile.comm = std::string("\x1b[31mred\0nul\xff", 13);
  hostile.ifname = "eth0\n<script>";
  seeds.push_back(recordingBytes(hostile));
  const size_t files = seeds.size();
  for (size_t i = 0; i < files; ++i) seeds.push_back(structuredForm(seeds[i]));
  return seeds;
}

void run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

// One deterministic mutation of a seed, in the spirit of libFuzzer's mutators.
std::string mutate(const std::vector<std::string>& seeds, std::mt19937_64& rng) {
  std::string s = seeds[rng() % seeds.size()];
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    const size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 8) {
      case 0:  // bit flip
        if (pos < s.size()) s[pos] = static_cast<char>(s[pos] ^ (1u << (rng() % 8)));
        break;
      case 1:  // random byte
        if (pos < s.size()) s[pos] = static_cast<char>(rng());
        break;
      case 2:  // truncate at a random length
        s.resize(pos);
        break;
      case 3: {  // splice: the head of this seed, the tail of another
        const std::string& other = seeds[rng() % seeds.size()];
        s = s.substr(0, pos) + other.substr(other.empty() ? 0 : rng() % other.size());
        break;
      }
      case 4:  // erase a range
        s.erase(pos, 1 + rng() % 64);
        break;
      case 5: {  // insert random bytes of a random length
        std::string junk(rng() % 64, '\0');
        for (char& c : junk) c = static_cast<char>(rng());
        s.insert(pos, junk);
        break;
      }
      case 6: {  // duplicate a range elsewhere (repeats whole frames now and then)
        if (s.empty()) break;
        const size_t from = rng() % s.size();
        s.insert(pos, s.substr(from, 1 + rng() % 512));
        break;
      }
      default: {  // interesting 32-bit value (lengths, counts, magic)
        static const uint32_t kValues[] = {0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x184D2A5E, 0xFD2FB528, 8, 12};
        if (pos + 4 <= s.size()) {
          const uint32_t v = kValues[rng() % (sizeof(kValues) / sizeof(kValues[0]))];
          std::memcpy(&s[pos], &v, 4);
        }
        break;
      }
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t iterations = 1000;
  uint64_t seed = 0x6e657474726169ull;  // fixed so a failure reproduces; printed below
  std::string corpus_dir;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--iterations" && i + 1 < argc) {
      iterations = std::strtoull(argv[++i], nullptr, 0);
    } else if (arg == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 0);
    } else if (arg == "--write-corpus" && i + 1 < argc) {
      corpus_dir = argv[++i];
    } else if (arg.rfind("--", 0) == 0) {
      std::fprintf(stderr, "usage: %s [--iterations N] [--seed S] [--write-corpus DIR] [FILE...]\n", argv[0]);
      return 2;
    } else {
      files.push_back(arg);
    }
  }
  const std::vector<std::string> seeds = seedCorpus();
  if (!corpus_dir.empty()) {
    for (size_t i = 0; i < seeds.size(); ++i) {
      const std::string path = corpus_dir + "/seed-" + std::to_string(i) + ".ntr";
      std::ofstream out(path, std::ios::binary);
      out << seeds[i];
      if (!out) {
        std::fprintf(stderr, "write %s failed\n", path.c_str());
        return 1;
      }
    }
    std::printf("wrote %zu seeds to %s\n", seeds.size(), corpus_dir.c_str());
    return 0;
  }
  for (const std::string& s : seeds) run(s);
  for (const std::string& file : files) run(nettrail::testing::readFile(file));
  std::printf("recording_reader_fuzz: %zu seeds, %zu files, %llu mutations with seed 0x%llx\n", seeds.size(),
              files.size(), static_cast<unsigned long long>(iterations), static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  std::mt19937_64 rng(seed);
  for (uint64_t i = 0; i < iterations; ++i) run(mutate(seeds, rng));
  std::printf("recording_reader_fuzz: ok\n");
  return 0;
}
