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
//   nt_workload spin MS           idle 1.2 s, thread "ntspinner" spins MS ms, idle 1.2 s
//   nt_workload switch SECONDS    two threads hand a token back and forth through a
//                                 futex (benchmark); prints "handoffs N" at the end
//
// It prints "pid PID" and, for futex, "uaddr 0xADDR", then waits for one byte
// on stdin before it starts, so a recorder can attach with -p first.
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

}  // extern "C"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: nt_workload sleep MS COUNT | futex WAKES WAITS [TIMED] | spin MS | switch SECONDS\n");
    return 2;
  }
  const std::string mode = argv[1];
  g_arg1 = std::atol(argv[2]);
  g_arg2 = argc > 3 ? std::atol(argv[3]) : 0;
  g_arg3 = argc > 4 ? std::atol(argv[4]) : 0;
  std::printf("pid %d\n", getpid());
  if (mode == "futex") std::printf("uaddr 0x%lx\n", reinterpret_cast<unsigned long>(&g_futex_word));
  std::fflush(stdout);
  char go;
  if (read(0, &go, 1) != 1) return 3;
  pthread_t thread;
  if (mode == "sleep") {
    pthread_create(&thread, nullptr, nt_sleeper_thread, nullptr);
    pthread_join(thread, nullptr);
  } else if (mode == "futex") {
    pthread_create(&thread, nullptr, nt_futex_thread, nullptr);
    pthread_join(thread, nullptr);
  } else if (mode == "spin") {
    usleep(1200 * 1000);
    pthread_create(&thread, nullptr, nt_spinner_thread, nullptr);
    pthread_join(thread, nullptr);
    usleep(1200 * 1000);
  } else if (mode == "switch") {
    pthread_t other;
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
