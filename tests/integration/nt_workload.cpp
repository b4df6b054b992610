// The program the CPU and lock families observe in integration tests and
// benchmarks. It is built with frame pointers and without inlining, and the
// sleeping thread enters the kernel from its own code (an inline `syscall`
// instruction), so its user stack unwinds through known functions of this
// binary; glibc has no frame pointers and would end the stack at its first frame.
//
//   nt_workload sleep MS COUNT    thread "ntsleeper" sleeps MS ms COUNT times
//   nt_workload futex WAKES WAITS [TIMED]
//                                 thread "ntfutex" makes WAKES FUTEX_WAKE and
//                                 WAITS (non-blocking) FUTEX_WAIT calls on one word,
//                                 then TIMED FUTEX_WAITs that block 100 ms each (ETIMEDOUT)
//   nt_workload paths BITS        thread "ntpaths" sleeps 1 ms once for each of the
//                                 2^BITS paths through BITS levels of calls that go
//                                 through nt_paths_left or nt_paths_right: as many
//                                 distinct user stacks
//   nt_workload spin MS           idle 1.2 s, thread "ntspinner" spins MS ms, idle 1.2 s
//   nt_workload switch SECONDS    two threads hand a token back and forth through a
//                                 futex (benchmark); prints "handoffs N" at the end
//   nt_workload rwlock HOLD_MS ROUNDS  thread "ntholder" holds a pthread rwlock for
//                                 writing HOLD_MS ms, ROUNDS times; each time thread
//                                 "ntwaiter" blocks on it, with rdlock in even rounds
//                                 and wrlock in odd ones
//   nt_workload mutex HOLD_MS ROUNDS   the same with a pthread mutex
//   nt_workload lockloop COUNT    thread "ntlockloop" takes and releases an
//                                 uncontended mutex, then an rwlock for writing,
//                                 COUNT times each (benchmark); prints
//                                 "ns_per_pair N" for the whole loop
//
// It prints "pid PID", for futex "uaddr 0xADDR", for rwlock and mutex "lock
// 0xADDR", "holder TID" and "waiter TID", then waits for one byte on stdin
// before it starts, so a recorder can attach with -p first.
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

// Inlined into its caller so the caller is the innermost user frame.
inline __attribute__((always_inline)) long rawSyscall2(long number, long a, long b) {
  long ret;
  asm volatile("syscall" : "=a"(ret) : "a"(number), "D"(a), "S"(b) : "rcx", "r11", "memory");
  return ret;
}

int g_futex_word = 0;
long g_arg1 = 0, g_arg2 = 0, g_arg3 = 0;

// Futex-based waits on an atomic counter: the lock modes must not use pthread
// locks (or condition variables) for their own coordination, since those are
// what the recording observes.
void waitUntilAtLeast(std::atomic<int>& word, int value) {
  while (true) {
    const int now = word.load();
    if (now >= value) return;
    syscall(SYS_futex, reinterpret_cast<int*>(&word), FUTEX_WAIT_PRIVATE, now, nullptr, nullptr, 0);
  }
}

void publish(std::atomic<int>& word, int value) {
  word.store(value);
  syscall(SYS_futex, reinterpret_cast<int*>(&word), FUTEX_WAKE_PRIVATE, 8, nullptr, nullptr, 0);
}

pthread_rwlock_t g_rwlock = PTHREAD_RWLOCK_INITIALIZER;
pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
bool g_use_mutex = false;
std::atomic<int> g_go{0}, g_held{0}, g_done{0}, g_holder_tid{0}, g_waiter_tid{0};

}  // namespace

extern "C" {

__attribute__((noinline)) void nt_offcpu_sleep_leaf(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  rawSyscall2(SYS_nanosleep, reinterpret_cast<long>(&ts), 0);
}

__attribute__((noinline)) void nt_offcpu_sleep_middle(long ms) {
  nt_offcpu_sleep_leaf(ms);
  asm volatile("" ::: "memory");  // keeps the call from becoming a tail call
}

__attribute__((noinline)) void* nt_sleeper_thread(void*) {
  prctl(PR_SET_NAME, "ntsleeper");
  for (long i = 0; i < g_arg2; ++i) nt_offcpu_sleep_middle(g_arg1);
  return nullptr;
}

__attribute__((noinline)) void nt_paths_descend(long level, unsigned long path);

__attribute__((noinline)) void nt_paths_left(long level, unsigned long path) {
  nt_paths_descend(level, path);
  asm volatile("" ::: "memory");
}

__attribute__((noinline)) void nt_paths_right(long level, unsigned long path) {
  nt_paths_descend(level, path);
  asm volatile("" ::: "memory");
}

// Each bit of PATH picks the left or the right function for one level, so
// every path leaves a different chain of return addresses on the stack.
__attribute__((noinline)) void nt_paths_descend(long level, unsigned long path) {
  if (level == 0) {
    struct timespec ts = {0, 1000000L};
    rawSyscall2(SYS_nanosleep, reinterpret_cast<long>(&ts), 0);
  } else if (path & 1) {
    nt_paths_left(level - 1, path >> 1);
  } else {
    nt_paths_right(level - 1, path >> 1);
  }
  asm volatile("" ::: "memory");
}

__attribute__((noinline)) void* nt_paths_thread(void*) {
  prctl(PR_SET_NAME, "ntpaths");
  for (unsigned long path = 0; path < (1ul << g_arg1); ++path) nt_paths_descend(g_arg1, path);
  return nullptr;
}

__attribute__((noinline)) void* nt_futex_thread(void*) {
  prctl(PR_SET_NAME, "ntfutex");
  for (long i = 0; i < g_arg1; ++i) syscall(SYS_futex, &g_futex_word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  // The word is 0, the expected value 1: each wait returns EAGAIN at once.
  for (long i = 0; i < g_arg2; ++i) syscall(SYS_futex, &g_futex_word, FUTEX_WAIT_PRIVATE, 1, nullptr, nullptr, 0);
  // The expected value matches and nobody wakes: each wait blocks until its timeout.
  for (long i = 0; i < g_arg3; ++i) {
    struct timespec timeout = {0, 100 * 1000000L};
    syscall(SYS_futex, &g_futex_word, FUTEX_WAIT_PRIVATE, 0, &timeout, nullptr, 0);
  }
  return nullptr;
}

__attribute__((noinline)) void* nt_spinner_thread(void*) {
  prctl(PR_SET_NAME, "ntspinner");
  // Real-time priority (root; otherwise it stays best effort) so the spin is a
  // burst however busy the machine is: tests assert on it.
  struct sched_param param = {};
  param.sched_priority = 1;
  pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  volatile unsigned long sink = 0;
  do {
    for (int i = 0; i < 100000; ++i) sink = sink + static_cast<unsigned long>(i);
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < g_arg1);
  return nullptr;
}

std::atomic<int> g_token{0};
std::atomic<bool> g_stop{false};
std::atomic<long> g_handoffs{0};

__attribute__((noinline)) void* nt_switch_thread(void* arg) {
  const int me = static_cast<int>(reinterpret_cast<long>(arg));
  long handoffs = 0;
  while (!g_stop.load()) {
    while (g_token.load() != me && !g_stop.load())
      syscall(SYS_futex, &g_token, FUTEX_WAIT_PRIVATE, 1 - me, nullptr, nullptr, 0);
    g_token.store(1 - me);
    syscall(SYS_futex, &g_token, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    ++handoffs;
  }
  g_handoffs += handoffs;
  return nullptr;
}

// The lock modes: the holder takes the lock, tells the waiter (which then
// blocks in its lock call for about HOLD_MS), sleeps HOLD_MS, releases, and
// waits for the waiter to finish the round.
__attribute__((noinline)) void nt_lock_holder_leaf(long ms) {
  if (g_use_mutex) pthread_mutex_lock(&g_mutex);
  else pthread_rwlock_wrlock(&g_rwlock);
  asm volatile("" ::: "memory");
  publish(g_held, g_held.load() + 1);
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, nullptr);
  if (g_use_mutex) pthread_mutex_unlock(&g_mutex);
  else pthread_rwlock_unlock(&g_rwlock);
}

__attribute__((noinline)) void* nt_lock_holder_thread(void*) {
  prctl(PR_SET_NAME, "ntholder");
  publish(g_holder_tid, static_cast<int>(syscall(SYS_gettid)));
  waitUntilAtLeast(g_go, 1);
  for (int round = 0; round < g_arg2; ++round) {
    nt_lock_holder_leaf(g_arg1);
    waitUntilAtLeast(g_done, round + 1);
  }
  return nullptr;
}

__attribute__((noinline)) void nt_lock_waiter_leaf(int round) {
  if (g_use_mutex) pthread_mutex_lock(&g_mutex);
  else if (round % 2 == 0) pthread_rwlock_rdlock(&g_rwlock);
  else pthread_rwlock_wrlock(&g_rwlock);
  asm volatile("" ::: "memory");
  if (g_use_mutex) pthread_mutex_unlock(&g_mutex);
  else pthread_rwlock_unlock(&g_rwlock);
}

__attribute__((noinline)) void* nt_lock_waiter_thread(void*) {
  prctl(PR_SET_NAME, "ntwaiter");
  publish(g_waiter_tid, static_cast<int>(syscall(SYS_gettid)));
  for (int round = 0; round < g_arg2; ++round) {
    waitUntilAtLeast(g_held, round + 1);
    nt_lock_waiter_leaf(round);
    publish(g_done, round + 1);
  }
  return nullptr;
}

__attribute__((noinline)) void* nt_lockloop_thread(void*) {
  prctl(PR_SET_NAME, "ntlockloop");
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (long i = 0; i < g_arg1; ++i) {
    pthread_mutex_lock(&g_mutex);
    pthread_mutex_unlock(&g_mutex);
  }
  for (long i = 0; i < g_arg1; ++i) {
    pthread_rwlock_wrlock(&g_rwlock);
    pthread_rwlock_unlock(&g_rwlock);
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  const double ns = static_cast<double>(end.tv_sec - start.tv_sec) * 1e9 + static_cast<double>(end.tv_nsec - start.tv_nsec);
  std::printf("ns_per_pair %.1f\n", g_arg1 > 0 ? ns / static_cast<double>(2 * g_arg1) : 0.0);
  return nullptr;
}

}  // extern "C"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: nt_workload sleep MS COUNT | paths BITS | futex WAKES WAITS [TIMED] | spin MS | switch SECONDS | "
                         "rwlock HOLD_MS ROUNDS | mutex HOLD_MS ROUNDS | lockloop COUNT\n");
    return 2;
  }
  const std::string mode = argv[1];
  g_arg1 = std::atol(argv[2]);
  g_arg2 = argc > 3 ? std::atol(argv[3]) : 0;
  g_arg3 = argc > 4 ? std::atol(argv[4]) : 0;
  std::printf("pid %d\n", getpid());
  if (mode == "futex") std::printf("uaddr 0x%lx\n", reinterpret_cast<unsigned long>(&g_futex_word));
  pthread_t thread, other;
  const bool lock_mode = mode == "rwlock" || mode == "mutex";
  if (lock_mode) {
    // Threads first, so their ids can be printed before the recorder starts.
    g_use_mutex = mode == "mutex";
    pthread_create(&thread, nullptr, nt_lock_holder_thread, nullptr);
    pthread_create(&other, nullptr, nt_lock_waiter_thread, nullptr);
    waitUntilAtLeast(g_holder_tid, 1);
    waitUntilAtLeast(g_waiter_tid, 1);
    std::printf("lock 0x%lx\nholder %d\nwaiter %d\n",
                g_use_mutex ? reinterpret_cast<unsigned long>(&g_mutex) : reinterpret_cast<unsigned long>(&g_rwlock),
                g_holder_tid.load(), g_waiter_tid.load());
  }
  std::fflush(stdout);
  char go;
  if (read(0, &go, 1) != 1) return 3;
  if (mode == "sleep") {
    pthread_create(&thread, nullptr, nt_sleeper_thread, nullptr);
    pthread_join(thread, nullptr);
  } else if (mode == "paths") {
    if (g_arg1 < 1 || g_arg1 > 20) return 2;
    pthread_create(&thread, nullptr, nt_paths_thread, nullptr);
    pthread_join(thread, nullptr);
  } else if (mode == "futex") {
    pthread_create(&thread, nullptr, nt_futex_thread, nullptr);
    pthread_join(thread, nullptr);
  } else if (mode == "spin") {
    usleep(1200 * 1000);
    pthread_create(&thread, nullptr, nt_spinner_thread, nullptr);
    pthread_join(thread, nullptr);
    usleep(1200 * 1000);
  } else if (lock_mode) {
    publish(g_go, 1);
    pthread_join(thread, nullptr);
    pthread_join(other, nullptr);
  } else if (mode == "lockloop") {
    pthread_create(&thread, nullptr, nt_lockloop_thread, nullptr);
    pthread_join(thread, nullptr);
  } else if (mode == "switch") {
    pthread_create(&thread, nullptr, nt_switch_thread, reinterpret_cast<void*>(0L));
    pthread_create(&other, nullptr, nt_switch_thread, reinterpret_cast<void*>(1L));
    usleep(static_cast<useconds_t>(g_arg1) * 1000000u);
    g_stop.store(true);
    g_token.store(2);
    syscall(SYS_futex, &g_token, FUTEX_WAKE_PRIVATE, 2, nullptr, nullptr, 0);
    pthread_join(thread, nullptr);
    pthread_join(other, nullptr);
    std::printf("handoffs %ld\n", g_handoffs.load());
  } else {
    std::fprintf(stderr, "nt_workload: unknown mode %s\n", mode.c_str());
    return 2;
  }
  std::printf("done\n");
  return 0;
}
