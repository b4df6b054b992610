/* Shared by BPF programs and the C++ recorder: fixed-width types, the
 * static-assert macro, and per-CPU counter indexes (STYLE.md rule 4). */
#ifndef NETTRAIL_COMMON_H
#define NETTRAIL_COMMON_H

#ifdef __cplusplus
#include <linux/types.h>
#define NT_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define NT_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

#define NT_TASK_COMM_LEN 16
#define NT_IFNAMSIZ 16
#define NT_MAX_STACK_DEPTH 64

/* Device names are learnt in the kernel on first sight, keyed by netns+ifindex. */
struct nt_device_key {
	__u32 netns;
	__u32 ifindex;
};
NT_STATIC_ASSERT(sizeof(struct nt_device_key) == 8, "nt_device_key layout");

struct nt_device_name {
	char name[NT_IFNAMSIZ];
};

#endif
