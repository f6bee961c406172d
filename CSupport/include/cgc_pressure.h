// Memory pressure: system calls the monitor needs (no .c file).
//
// The memory-pressure monitor waits for the kernel's notices (cgroup v2
// memory.events and PSI triggers, cgroup v1 pressure levels) on file
// descriptors; two of the calls it needs are missing from Swift's Glibc
// module, so they are one-line wrappers here. Each returns what the system
// call returns, with errno set on failure, and keeps no state.
#ifndef CGC_PRESSURE_H
#define CGC_PRESSURE_H

#include <sys/eventfd.h>
#include <sys/vfs.h>

#ifdef __cplusplus
extern "C" {
#endif


/// A non-blocking, close-on-exec eventfd(2) counting from 0, or -1 with
/// errno set: the memory-pressure monitor's wakeup, and what cgroup v1's
/// cgroup.event_control signals memory.pressure_level notices through.
/// Swift's Glibc module does not export eventfd.
static inline int cgc_eventfd_nonblocking(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

/// The type of the file system holding an open file (statfs's f_type, for
/// example PROC_SUPER_MAGIC 0x9fa0), or 0 with errno set. The monitor
/// writes pressure triggers only into kernel files, never into a regular
/// file standing in for one. Swift's Glibc module does not export fstatfs.
static inline long cgc_file_system_type(int fd) {
    struct statfs info;
    return fstatfs(fd, &info) == 0 ? (long)info.f_type : 0;
}
#ifdef __cplusplus
}
#endif

#endif
