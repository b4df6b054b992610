#include "snapshot/local_clock.h"

#include <linux/perf_event.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nettrail {
namespace {

uint64_t boottime() {
  timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

LocalClockProbe::~LocalClockProbe() {
  if (ring_) munmap(ring_, ring_bytes_);
  if (fd_ >= 0) close(fd_);
}

Status LocalClockProbe::open() {
  perf_event_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_DUMMY;
  attr.sample_type = PERF_SAMPLE_TIME;
  attr.sample_id_all = 1;  // side-band records (COMM) carry the sample's TIME
  attr.comm = 1;
  attr.exclude_kernel = 1;  // nothing is counted; allowed at perf_event_paranoid 2
  attr.exclude_hv = 1;
  const int fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) return Status::error("perf_event_open (software dummy event on this thread): ", errnoText(errno));
  page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  ring_bytes_ = 2 * page_;  // the control page and one data page
  void* ring = mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (ring == MAP_FAILED) {
    const int err = errno;
    close(fd);
    return Status::error("mmap perf ring: ", errnoText(err));
  }
  fd_ = fd;
  ring_ = ring;
  return Status::ok();
}

Result<LocalClockSample> LocalClockProbe::sample() {
  if (fd_ < 0) return Status::error("local clock probe not open");
  char name[17] = {};
  if (prctl(PR_GET_NAME, name) != 0) return Status::error("prctl(PR_GET_NAME): ", errnoText(errno));
  auto* control = static_cast<perf_event_mmap_page*>(ring_);
  const char* data = static_cast<const char*>(ring_) + page_;
  const uint64_t before = boottime();
  // Renaming a thread to its own name changes nothing but emits the COMM record.
  if (prctl(PR_SET_NAME, name) != 0) return Status::error("prctl(PR_SET_NAME): ", errnoText(errno));
  const uint64_t after = boottime();
  const uint64_t head = __atomic_load_n(&control->data_head, __ATOMIC_ACQUIRE);
  uint64_t tail = control->data_tail;
  uint64_t stamp = 0;
  bool found = false;
  while (tail + sizeof(perf_event_header) <= head) {
    perf_event_header header;
    // Records are 8-byte aligned and the data area is one page, so a header
    // never straddles the end; a record body may, hence the copy byte by byte.
    std::memcpy(&header, data + (tail % page_), sizeof(header));
    if (header.size < sizeof(header)) break;
    if (header.type == PERF_RECORD_COMM && header.size >= sizeof(header) + 8) {
      uint8_t bytes[8];
      for (size_t i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(data[(tail + header.size - 8 + i) % page_]);
      std::memcpy(&stamp, bytes, 8);  // sample_id: PERF_SAMPLE_TIME only
      found = true;
    }
    tail += header.size;
  }
  __atomic_store_n(&control->data_tail, head, __ATOMIC_RELEASE);
  if (!found) return Status::error("perf gave no COMM record for PR_SET_NAME");
  LocalClockSample s;
  s.boottime_ns = before + (after - before) / 2;
  s.local_clock_ns = stamp;
  s.uncertainty_ns = (after - before + 1) / 2;
  return s;
}

}  // namespace nettrail
