#include "nettrail/output_file.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>

namespace nettrail {
namespace {

// 64 random bits as hex: what makes a temporary's name unpredictable.
std::string randomHex() {
  uint64_t value = 0;
  size_t got = 0;
  while (got < sizeof(value)) {
    ssize_t n = getrandom(reinterpret_cast<char*>(&value) + got, sizeof(value) - got, 0);
    if (n < 0 && errno == EINTR) continue;
    NT_CHECK(n > 0);  // getrandom cannot fail for 8 bytes once the pool is initialised
    got += static_cast<size_t>(n);
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(value));
  return buf;
}

std::string temporaryNameFor(const std::string& name) {
  const std::string suffix = ".partial-" + randomHex();
  if (name.size() + suffix.size() <= NAME_MAX) return name + suffix;
  return ".nettrail" + suffix;
}

Status checkFileName(const std::string& name, const std::string& shown) {
  if (name.empty()) return Status::error("no file name given");
  if (name == "." || name == ".." || name.find('/') != std::string::npos)
    return Status::error(shown, ": not a file name");
  return Status::ok();
}

}  // namespace

// ---------------------------------------------------------------- OutputDirectory

Result<std::shared_ptr<const OutputDirectory>> OutputDirectory::open(const std::string& path) {
  const std::string shown = path.empty() ? "." : path;
  std::shared_ptr<OutputDirectory> dir(new OutputDirectory());
  dir->fd_ = ::open(shown.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir->fd_ < 0) return Status::error("open directory ", shown, ": ", errnoText(errno));
  dir->prefix_ = path.empty() ? "" : (path.back() == '/' ? path : path + "/");
  return std::shared_ptr<const OutputDirectory>(std::move(dir));
}

Result<std::shared_ptr<const OutputDirectory>> OutputDirectory::openFor(const std::string& file_path,
                                                                       std::string* name) {
  if (file_path.empty()) return Status::error("no file name given");
  if (file_path.back() == '/') return Status::error(file_path, ": names a directory, not a file");
  const size_t slash = file_path.rfind('/');
  *name = slash == std::string::npos ? file_path : file_path.substr(slash + 1);
  NT_RETURN_IF_ERROR(checkFileName(*name, file_path));
  return open(slash == std::string::npos ? "" : file_path.substr(0, slash + 1));
}

OutputDirectory::~OutputDirectory() {
  if (fd_ >= 0) ::close(fd_);
}

std::string OutputDirectory::pathOf(const std::string& name) const { return prefix_ + name; }

bool OutputDirectory::has(const std::string& name) const {
  struct stat st;
  return fstatat(fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

bool OutputDirectory::isSymlink(const std::string& name) const {
  struct stat st;
  return fstatat(fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

Status OutputDirectory::remove(const std::string& name) const {
  if (unlinkat(fd_, name.c_str(), 0) != 0 && errno != ENOENT)
    return Status::error("remove ", pathOf(name), ": ", errnoText(errno));
  return Status::ok();
}

Status OutputDirectory::sync() const {
  // Some filesystems cannot fsync a directory (EINVAL); their names are as
  // durable as they get.
  if (fsync(fd_) != 0 && errno != EINVAL && errno != EROFS)
    return Status::error("fsync directory ", prefix_.empty() ? "." : prefix_, ": ", errnoText(errno));
  return Status::ok();
}

// ---------------------------------------------------------------- OutputFile

Result<std::unique_ptr<OutputFile>> OutputFile::create(const std::string& path, Naming naming,
                                                       const OutputOptions& options) {
  std::string name;
  NT_ASSIGN_OR_RETURN(std::shared_ptr<const OutputDirectory> dir, OutputDirectory::openFor(path, &name));
  return create(std::move(dir), name, naming, options);
}

Result<std::unique_ptr<OutputFile>> OutputFile::create(std::shared_ptr<const OutputDirectory> dir,
                                                       const std::string& name, Naming naming,
                                                       const OutputOptions& options) {
  NT_CHECK(dir != nullptr);
  NT_RETURN_IF_ERROR(checkFileName(name, dir->pathOf(name)));
  std::unique_ptr<OutputFile> file(new OutputFile());
  file->dir_ = std::move(dir);
  file->name_ = name;
  file->path_ = file->dir_->pathOf(name);
  file->naming_ = naming;
  file->options_ = options;
  const int dir_fd = file->dir_->fd();
  const mode_t mode = options.mode & 07777;

  if (naming == Naming::kNow && !options.replace) {
    file->fd_ = openat(dir_fd, name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (file->fd_ < 0) {
      const int err = errno;
      if (err == EEXIST) return file->existsError(name);
      return Status::error("create ", file->path_, ": ", errnoText(err));
    }
  } else if (naming == Naming::kAtomic) {
    file->fd_ = openat(dir_fd, ".", O_RDWR | O_TMPFILE | O_CLOEXEC, mode);
    if (file->fd_ >= 0) {
      file->unnamed_ = true;
    } else if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) {
      // This filesystem (or kernel) has no O_TMPFILE: a random name instead.
      NT_RETURN_IF_ERROR(file->createTemporary());
    } else {
      return Status::error("create ", file->path_, ": ", errnoText(errno));
    }
  } else {
    NT_RETURN_IF_ERROR(file->createTemporary());
  }
  if (fchmod(file->fd_, mode) != 0) {
    const int err = errno;
    file->discard();
    if (naming == Naming::kNow && !options.replace) (void)file->dir_->remove(name);
    char octal[16];
    std::snprintf(octal, sizeof(octal), "%04o", static_cast<unsigned>(mode));
    return Status::error("create ", file->path_, ": set mode ", octal, ": ", errnoText(err));
  }
  if (naming == Naming::kNow && options.replace) {
    // The new file takes the name now: rename replaces whatever had it (a
    // link is replaced, its target left alone); a directory there fails.
    if (renameat(dir_fd, file->temp_name_.c_str(), dir_fd, name.c_str()) != 0) {
      const int err = errno;
      file->discard();
      return Status::error("replace ", file->path_, ": ", errnoText(err));
    }
    file->temp_name_.clear();
    file->temp_path_.clear();
  }
  if (naming == Naming::kNow && options.durable) NT_RETURN_IF_ERROR(file->dir_->sync());
  return file;
}

Status OutputFile::createTemporary() {
  for (int attempt = 0; attempt < 16; ++attempt) {
    temp_name_ = temporaryNameFor(name_);
    fd_ = openat(dir_->fd(), temp_name_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 options_.mode & 07777);
    if (fd_ >= 0) {
      temp_path_ = dir_->pathOf(temp_name_);
      return Status::ok();
    }
    if (errno != EEXIST) break;
  }
  const int err = errno;
  const std::string shown = dir_->pathOf(temp_name_);
  temp_name_.clear();
  return Status::error("create ", shown, " (temporary for ", path_, "): ", errnoText(err));
}

Status OutputFile::existsError(const std::string& name) const {
  struct stat st;
  const bool known = fstatat(dir_->fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  const char* what = !known                ? "the name is taken"
                     : S_ISLNK(st.st_mode) ? "a symbolic link has that name (not followed)"
                     : S_ISDIR(st.st_mode) ? "a directory has that name"
                                           : "the file exists";
  return Status::error("create ", dir_->pathOf(name), ": ", what,
                       options_.exists_hint.empty() ? "" : "; ", options_.exists_hint);
}

// Gives the unnamed file `name` in the directory: 0, or the errno (EEXIST if
// the name is taken, by a link or anything else: linkat never follows it).
int OutputFile::linkUnnamed(const std::string& name) {
  // /proc/self/fd/N is the one way that needs no privilege; AT_EMPTY_PATH
  // needs CAP_DAC_READ_SEARCH and serves when /proc is not mounted.
  char proc_path[64];
  std::snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", fd_);
  if (linkat(AT_FDCWD, proc_path, dir_->fd(), name.c_str(), AT_SYMLINK_FOLLOW) == 0) return 0;
  int err = errno;
  if (err == ENOENT && access("/proc/self/fd", F_OK) != 0) {
    if (linkat(fd_, "", dir_->fd(), name.c_str(), AT_EMPTY_PATH) == 0) return 0;
    err = errno;
  }
  return err;
}

Status OutputFile::write(std::string_view data) {
  if (fd_ < 0) return Status::error("write ", path_, ": the file is closed");
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::error("write ", path_, ": ", errnoText(errno));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return Status::ok();
}

Status OutputFile::commit() {
  if (fd_ < 0) return Status::error("commit ", path_, ": the file is closed");
  const int dir_fd = dir_->fd();
  Status status;
  if (options_.durable && fsync(fd_) != 0 && errno != EINVAL)
    status = Status::error("fsync ", path_, ": ", errnoText(errno));
  if (status.isOk() && naming_ != Naming::kNow) {
    if (unnamed_ && !options_.replace) {
      const int err = linkUnnamed(name_);
      if (err != 0) status = err == EEXIST ? existsError(name_) : Status::error("create ", path_, ": ", errnoText(err));
    } else if (unnamed_) {
      // Link under a random name, then rename that over the old name.
      for (int attempt = 0; attempt < 16; ++attempt) {
        temp_name_ = temporaryNameFor(name_);
        const int err = linkUnnamed(temp_name_);
        if (err == 0) break;
        temp_name_.clear();
        if (err != EEXIST || attempt == 15) {
          status = Status::error("create ", path_, ": ", errnoText(err));
          break;
        }
      }
      if (status.isOk()) {
        temp_path_ = dir_->pathOf(temp_name_);
        if (renameat(dir_fd, temp_name_.c_str(), dir_fd, name_.c_str()) != 0)
          status = Status::error("replace ", path_, ": ", errnoText(errno));
        else
          temp_name_.clear();
      }
    } else if (options_.replace) {
      if (renameat(dir_fd, temp_name_.c_str(), dir_fd, name_.c_str()) != 0)
        status = Status::error("replace ", path_, ": ", errnoText(errno));
      else
        temp_name_.clear();
    } else {
      // RENAME_NOREPLACE where the filesystem has it, else link + unlink:
      // both fail if the name was taken meanwhile, by a link or anything else.
      int rc = renameat2(dir_fd, temp_name_.c_str(), dir_fd, name_.c_str(), RENAME_NOREPLACE);
      if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
        rc = linkat(dir_fd, temp_name_.c_str(), dir_fd, name_.c_str(), 0);
        if (rc == 0) (void)unlinkat(dir_fd, temp_name_.c_str(), 0);
      }
      const int err = rc == 0 ? 0 : errno;
      if (err != 0)
        status = err == EEXIST ? existsError(name_) : Status::error("create ", path_, ": ", errnoText(err));
      else
        temp_name_.clear();
    }
  }
  if (status.isOk() && options_.durable) status = dir_->sync();
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0 && status.isOk()) status = Status::error("close ", path_, ": ", errnoText(errno));
  if (!temp_name_.empty()) (void)unlinkat(dir_fd, temp_name_.c_str(), 0);
  temp_name_.clear();
  temp_path_.clear();
  return status;
}

void OutputFile::discard() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_name_.empty() && dir_) (void)unlinkat(dir_->fd(), temp_name_.c_str(), 0);
  temp_name_.clear();
  temp_path_.clear();
}

OutputFile::~OutputFile() { discard(); }

Status writeFileAtomically(const std::string& path, std::string_view content, const OutputOptions& options) {
  NT_ASSIGN_OR_RETURN(std::unique_ptr<OutputFile> file, OutputFile::create(path, OutputFile::Naming::kAtomic, options));
  NT_RETURN_IF_ERROR(file->write(content));
  return file->commit();
}

}  // namespace nettrail
