# nt_bpf_skeleton(<family>) builds bpf/<family>.bpf.c into <family>.bpf.o with
# clang -target bpf and generates <family>.skel.h with bpftool gen skeleton.
# vmlinux.h is the pinned copy in bpf/include/vmlinux/<arch>/, so a build machine
# needs no /sys/kernel/btf/vmlinux; NT_VMLINUX_FROM_HOST=ON regenerates it from
# the build host's BTF instead (for trying a new kernel's types).
find_program(NT_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(NT_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)
option(NT_VMLINUX_FROM_HOST "Generate vmlinux.h from /sys/kernel/btf/vmlinux" OFF)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(NT_BPF_ARCH x86_64)
  set(NT_BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(NT_BPF_ARCH aarch64)
  set(NT_BPF_TARGET_ARCH arm64)
else()
  message(FATAL_ERROR "nettrail-record: no pinned vmlinux.h for ${CMAKE_SYSTEM_PROCESSOR}")
endif()

if(NT_VMLINUX_FROM_HOST)
  set(NT_VMLINUX_DIR "${CMAKE_BINARY_DIR}/vmlinux")
  file(MAKE_DIRECTORY "${NT_VMLINUX_DIR}")
  add_custom_command(OUTPUT "${NT_VMLINUX_DIR}/vmlinux.h"
    COMMAND "${NT_BPFTOOL}" btf dump file /sys/kernel/btf/vmlinux format c > "${NT_VMLINUX_DIR}/vmlinux.h"
    COMMENT "vmlinux.h from this host's BTF")
  add_custom_target(nt_vmlinux DEPENDS "${NT_VMLINUX_DIR}/vmlinux.h")
else()
  set(NT_VMLINUX_DIR "${PROJECT_SOURCE_DIR}/bpf/include/vmlinux/${NT_BPF_ARCH}")
  if(NOT EXISTS "${NT_VMLINUX_DIR}/vmlinux.h")
    message(FATAL_ERROR "no pinned ${NT_VMLINUX_DIR}/vmlinux.h; configure with -DNT_VMLINUX_FROM_HOST=ON")
  endif()
  add_custom_target(nt_vmlinux)
endif()

set(NT_BPF_OUT "${CMAKE_BINARY_DIR}/bpf")
file(MAKE_DIRECTORY "${NT_BPF_OUT}")
file(GLOB NT_BPF_HEADERS CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/bpf/include/nettrail/*.h")

function(nt_bpf_skeleton family)
  set(_src "${PROJECT_SOURCE_DIR}/bpf/${family}.bpf.c")
  set(_obj "${NT_BPF_OUT}/${family}.bpf.o")
  set(_skel "${NT_BPF_OUT}/${family}.skel.h")
  add_custom_command(OUTPUT "${_obj}"
    COMMAND "${NT_CLANG}" -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_${NT_BPF_TARGET_ARCH}
            -I "${PROJECT_SOURCE_DIR}/bpf/include" -I "${NT_VMLINUX_DIR}"
            -c "${_src}" -o "${_obj}"
    DEPENDS "${_src}" ${NT_BPF_HEADERS} nt_vmlinux
    COMMENT "BPF ${family}.bpf.o")
  add_custom_command(OUTPUT "${_skel}"
    COMMAND "${NT_BPFTOOL}" gen skeleton "${_obj}" name ${family}_bpf > "${_skel}"
    DEPENDS "${_obj}"
    COMMENT "BPF skeleton ${family}.skel.h")
  add_custom_target(nt_bpf_${family} DEPENDS "${_skel}")
endfunction()
