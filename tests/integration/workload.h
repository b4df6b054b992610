#pragma once
// nt_workload (tests/integration/nt_workload.cpp) as a child process: started
// from a copy at a temporary path (so tests can delete the binary before
// analysis), held until go(), and reaped by wait() or the destructor.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

namespace nettrail::testing {

class Workload {
 public:
  // Copies the workload binary to `binary_path` and starts it with `args`.
  bool start(const std::string& binary_path, const std::vector<std::string>& args) {
    binary_ = binary_path;
    if (std::system(("cp " + std::string(NT_WORKLOAD_BIN) + " " + binary_ + " && chmod 755 " + binary_).c_str()) != 0)
      return false;
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return false;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      std::vector<char*> argv;
      std::vector<std::string> copy = args;
      argv.push_back(binary_.data());
      for (std::string& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(binary_.c_str(), argv.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    go_fd_ = in[1];
    out_ = fdopen(out[0], "r");
    char line[256];
    // "pid N" and, for futex, "uaddr 0x...", for the lock modes "lock 0x...",
    // "holder N" and "waiter N" (last) come before the program waits.
    const bool lock_mode = args[0] == "rwlock" || args[0] == "mutex";
    while (out_ && std::fgets(line, sizeof(line), out_)) {
      unsigned long value = 0;
      if (std::sscanf(line, "uaddr 0x%lx", &value) == 1) uaddr = value;
      if (std::sscanf(line, "lock 0x%lx", &value) == 1) lock = value;
      if (std::sscanf(line, "holder %lu", &value) == 1) holder_tid = value;
      if (std::sscanf(line, "waiter %lu", &value) == 1) {
        waiter_tid = value;
        return true;
      }
      if (std::sscanf(line, "pid %lu", &value) == 1) {
        if (args[0] != "futex" && !lock_mode) return true;
      }
      if (uaddr) return true;
    }
    return false;
  }
  // The next line the program prints after it started, without the newline;
  // empty at its end.
  std::string readLine() {
    char line[256];
    if (!out_ || !std::fgets(line, sizeof(line), out_)) return "";
    std::string text = line;
    if (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }
  void go() {
    if (write(go_fd_, "g", 1) != 1) std::perror("workload go");
  }
  // Exit status, or -1.
  int wait() {
    if (pid_ <= 0) return -1;
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  pid_t pid() const { return pid_; }
  void removeBinary() { ::unlink(binary_.c_str()); }
  ~Workload() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (go_fd_ >= 0) close(go_fd_);
    if (out_) fclose(out_);
    removeBinary();
  }

  unsigned long uaddr = 0;
  unsigned long lock = 0, holder_tid = 0, waiter_tid = 0;  // rwlock and mutex modes

 private:
  std::string binary_;
  pid_t pid_ = -1;
  int go_fd_ = -1;
  FILE* out_ = nullptr;
};

}  // namespace nettrail::testing
