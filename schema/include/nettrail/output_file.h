#pragma once
// How both programs create every file they write (docs/architecture.md, "Files
// the programs write"). nettrail-record runs as root, and so is `nettrail`
// often, on hosts where other people have shells, writing into directories
// such as /tmp that those people can write too. So here:
//  - a name is never opened through a symbolic link. A new file is created with
//    O_CREAT|O_EXCL|O_NOFOLLOW, or unnamed (O_TMPFILE) and linked in; replacing
//    an existing name renames a new file over it, and rename replaces a link
//    itself, never the file it points to;
//  - temporaries are never predictable: 64 random bits in the name, created
//    exclusively, in the target's own directory (so the rename is atomic);
//  - new files get exactly `mode` (0600 by default, as perf.data), whatever the
//    umask: recordings and databases hold command lines, addresses and names;
//  - the directory is opened once and everything after goes through its fd, so
//    swapping the directory path for a link meanwhile changes nothing, and a
//    process that has given up its privileges can still create and remove
//    files there (the recorder's rotation);
//  - with `durable`, data is fsync'd before the name appears and the directory
//    after, so a name never survives a crash with missing content.
#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "nettrail/status.h"

namespace nettrail {

constexpr mode_t kPrivateFileMode = 0600;
constexpr mode_t kGroupReadableFileMode = 0640;

struct OutputOptions {
  // Permission bits of the new file, set with fchmod after creation (the
  // umask neither widens nor narrows them).
  mode_t mode = kPrivateFileMode;
  // Replace whatever has the name (a file, or a symbolic link: the link is
  // replaced, its target is left alone). Otherwise an existing name is an error.
  bool replace = false;
  // fsync the file before it gets its name and the directory after.
  bool durable = true;
  // Appended to the error when the name exists and `replace` is false, e.g.
  // "use --force to replace it".
  std::string exists_hint;
};

// A directory opened once (O_DIRECTORY); files are created, renamed and
// removed relative to its fd.
class OutputDirectory {
 public:
  // `path` "" is the current directory.
  static Result<std::shared_ptr<const OutputDirectory>> open(const std::string& path);
  // Opens the directory part of `file_path` and sets `name` to the rest, which
  // must be a file name (not empty, ".", "..", nor a path ending in '/').
  static Result<std::shared_ptr<const OutputDirectory>> openFor(const std::string& file_path, std::string* name);
  ~OutputDirectory();
  OutputDirectory(const OutputDirectory&) = delete;
  OutputDirectory& operator=(const OutputDirectory&) = delete;

  int fd() const { return fd_; }
  // `name` as the user would write it, for messages ("out.html", "/tmp/out.html").
  std::string pathOf(const std::string& name) const;
  // Whether anything has `name`: a file, a directory, a symbolic link (even one
  // pointing nowhere).
  bool has(const std::string& name) const;
  bool isSymlink(const std::string& name) const;
  // unlinkat: a symbolic link is removed, never its target. A missing name is not an error.
  Status remove(const std::string& name) const;
  Status sync() const;

 private:
  OutputDirectory() = default;
  int fd_ = -1;
  std::string prefix_;  // "" or "dir/"
};

class OutputFile {
 public:
  enum class Naming {
    // The name appears at commit(), with the whole content: reports, exports.
    // The file has no name until then (O_TMPFILE), or a random temporary one
    // where the filesystem has no O_TMPFILE.
    kAtomic,
    // As kAtomic, always under a random temporary name (temporaryPath()), for
    // libraries that open files only by name (SQLite).
    kAtomicNamed,
    // The name appears at creation and the file grows under it, readable at
    // any moment and after a crash: recordings. With `replace`, the new file
    // is created under a temporary name and renamed over the old one at once.
    kNow,
  };

  static Result<std::unique_ptr<OutputFile>> create(const std::string& path, Naming naming,
                                                    const OutputOptions& options);
  static Result<std::unique_ptr<OutputFile>> create(std::shared_ptr<const OutputDirectory> dir,
                                                    const std::string& name, Naming naming,
                                                    const OutputOptions& options);
  // Without commit(): a temporary is removed (kAtomic leaves nothing behind);
  // a kNow file keeps its name and what was written.
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  int fd() const { return fd_; }
  // The final path, for messages, and the name in directory().
  const std::string& path() const { return path_; }
  const std::string& name() const { return name_; }
  // kAtomicNamed (and kAtomic without O_TMPFILE): the temporary's path, until
  // commit() or discard(); empty otherwise.
  const std::string& temporaryPath() const { return temp_path_; }
  const OutputDirectory& directory() const { return *dir_; }

  // Writes all of `data` at the current offset (EINTR and short writes retried).
  Status write(std::string_view data);
  // fsyncs (when durable), gives a kAtomic file its name (failing if the name
  // exists and `replace` is false), fsyncs the directory, closes the fd.
  Status commit();
  // Closes without publishing: removes a temporary.
  void discard();

 private:
  OutputFile() = default;
  Status createTemporary();
  int linkUnnamed(const std::string& name);
  Status existsError(const std::string& name) const;

  std::shared_ptr<const OutputDirectory> dir_;
  std::string name_, path_;
  std::string temp_name_, temp_path_;  // a named temporary, while it exists
  Naming naming_ = Naming::kAtomic;
  OutputOptions options_;
  int fd_ = -1;
  bool unnamed_ = false;  // O_TMPFILE: linked in at commit
};

// Writes `content` to `path` as a kAtomic OutputFile.
Status writeFileAtomically(const std::string& path, std::string_view content, const OutputOptions& options);

}  // namespace nettrail
