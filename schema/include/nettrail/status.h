#pragma once
// Expected failures are values (STYLE.md §3.6): Status carries a message that
// names what failed, on what, and why; Result<T> is a value or a Status.
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <variant>

namespace nettrail {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  template <typename... Args>
  static Status error(const Args&... args) {
    std::ostringstream out;
    (out << ... << args);
    Status s;
    s.message_ = out.str();
    if (s.message_.empty()) s.message_ = "unknown error";
    s.failed_ = true;
    return s;
  }
  bool isOk() const { return !failed_; }
  explicit operator bool() const { return !failed_; }
  const std::string& message() const { return message_; }
  // Prefixes context, e.g. status.context("drop: attach") -> "drop: attach: <message>".
  Status context(const std::string& what) const {
    if (!failed_) return *this;
    return Status::error(what, ": ", message_);
  }

 private:
  bool failed_ = false;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : value_(std::move(status)) {  // NOLINT
    if (std::get<Status>(value_).isOk()) std::abort();  // a Result needs a value or an error
  }
  bool isOk() const { return std::holds_alternative<T>(value_); }
  explicit operator bool() const { return isOk(); }
  T& value() { return std::get<T>(value_); }
  const T& value() const { return std::get<T>(value_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  Status status() const { return isOk() ? Status::ok() : std::get<Status>(value_); }

 private:
  std::variant<T, Status> value_;
};

// "ENOENT (No such file or directory)" for an errno value (positive or negative).
std::string errnoText(int err);

}  // namespace nettrail

#define NT_RETURN_IF_ERROR(expr)                 \
  do {                                           \
    ::nettrail::Status nt_status_ = (expr);      \
    if (!nt_status_.isOk()) return nt_status_;  \
  } while (0)

#define NT_CONCAT_INNER(a, b) a##b
#define NT_CONCAT(a, b) NT_CONCAT_INNER(a, b)
#define NT_ASSIGN_OR_RETURN(lhs, expr)                                   \
  auto NT_CONCAT(nt_result_, __LINE__) = (expr);                         \
  if (!NT_CONCAT(nt_result_, __LINE__).isOk())                           \
    return NT_CONCAT(nt_result_, __LINE__).status();                     \
  lhs = std::move(NT_CONCAT(nt_result_, __LINE__).value())

// Bugs, not input errors: abort with the condition and location.
#define NT_CHECK(cond)                                                          \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "nettrail: internal error: %s at %s:%d\n", #cond,    \
                   __FILE__, __LINE__);                                         \
      std::abort();                                                             \
    }                                                                           \
  } while (0)
