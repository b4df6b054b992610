#pragma once
// Test hosts for integration tests: two network namespaces joined by a veth
// pair, helpers to run code or commands inside them, and the recorder as a
// child process. Everything is torn down in destructors.
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace nettrail::testing {

// Runs `command` with /bin/sh; returns its exit status and fills `output`
// (stdout and stderr) when given.
int shell(const std::string& command, std::string* output = nullptr);

// Runs `body` in a forked child that has joined network namespace `netns`
// (a name under /run/netns); returns the child's exit status. `comm`, when
// not empty, becomes the child's thread name first.
int runInNetns(const std::string& netns, const std::function<int()>& body, const std::string& comm = "");

// Inode number of a named network namespace, as the recorder's --netns takes it.
uint32_t netnsInode(const std::string& netns);

// Two namespaces A and B, veth A<->B, 10.77.X.1/24 in A and 10.77.X.2/24 in B.
class VethPair {
 public:
  VethPair();
  ~VethPair();
  VethPair(const VethPair&) = delete;
  VethPair& operator=(const VethPair&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  std::string ns_a, ns_b;      // namespace names
  std::string if_a, if_b;      // veth names (A side, B side)
  std::string ip_a, ip_b;      // addresses

 private:
  bool ok_ = false;
  std::string error_;
};

// A multi-queue tap in namespace `netns`, opened by a child process that never
// reads it: what the kernel sees when a VM stops draining its queue. With
// txqueuelen 16, packets routed to `peer_ip` (10.78.0.2, a neighbour entry on
// the tap, the tap itself 10.78.0.1/24) fill the ring within a few packets and
// the rest are FULL_RING drops in tun_net_xmit. The child is killed and the
// tap goes with it in the destructor.
class UnreadTap {
 public:
  UnreadTap(const std::string& netns, const std::string& name);
  ~UnreadTap();
  UnreadTap(const UnreadTap&) = delete;
  UnreadTap& operator=(const UnreadTap&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  // The tap's tx_dropped counter (what the kernel says it dropped); -1 if unreadable.
  int64_t txDropped() const;
  std::string name;
  std::string peer_ip = "10.78.0.2";

 private:
  std::string netns_;
  pid_t holder_ = -1;
  bool ok_ = false;
  std::string error_;
};

// Socket helpers for use inside runInNetns bodies. Each returns the number of
// operations that completed as expected.
int tcpConnectRefused(const std::string& ip, uint16_t port, int count);
int udpSend(const std::string& ip, uint16_t port, int count, size_t payload = 32, const std::string& src_ip = "");

// nettrail-record as a child process.
class RecorderProcess {
 public:
  ~RecorderProcess();
  // Starts the recorder with `args` and waits until it reports that it is
  // recording (probes attached). Returns false with the recorder's output in
  // error() when it fails to start within the timeout.
  bool start(const std::vector<std::string>& args, int timeout_seconds = 30);
  // SIGINT (or `signal`) and wait; returns the exit status (-signal if killed).
  int stop(int signal = 2);
  const std::string& output() const { return output_; }
  std::string error() const { return output_; }

 private:
  void collect();
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string output_;
};

}  // namespace nettrail::testing
