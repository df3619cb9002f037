# Cross-compiling for 64-bit Arm Linux (Jetson, Raspberry Pi 4/5, Arm laptops and servers) with
# Debian's cross toolchain (crossbuild-essential-arm64) against a sysroot of Debian's arm64
# packages, libtorch included. scripts/build-aarch64.sh makes the sysroot and uses this file:
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# The sysroot is EDGETUNE_SYSROOT (environment) or build-aarch64-sysroot/ beside this folder.
# Test binaries run through qemu-user (CMAKE_CROSSCOMPILING_EMULATOR), so ctest works as usual.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

if(DEFINED ENV{EDGETUNE_SYSROOT})
  set(_et_sysroot "$ENV{EDGETUNE_SYSROOT}")
else()
  get_filename_component(_et_sysroot "${CMAKE_CURRENT_LIST_DIR}/../build-aarch64-sysroot" ABSOLUTE)
endif()
if(NOT EXISTS "${_et_sysroot}/usr/lib/aarch64-linux-gnu")
  message(FATAL_ERROR "aarch64 sysroot not found at ${_et_sysroot} (scripts/build-aarch64.sh makes it)")
endif()
set(CMAKE_SYSROOT "${_et_sysroot}")
set(CMAKE_FIND_ROOT_PATH "${_et_sysroot}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Libraries link against their own dependencies in the sysroot (libtorch -> openblas, gomp, ...).
set(CMAKE_EXE_LINKER_FLAGS_INIT
    "-Wl,-rpath-link,${_et_sysroot}/usr/lib/aarch64-linux-gnu -Wl,-rpath-link,${_et_sysroot}/lib/aarch64-linux-gnu")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "${CMAKE_EXE_LINKER_FLAGS_INIT}")

# pkg-config (PCRE2) looks only into the sysroot.
set(ENV{PKG_CONFIG_DIR} "")
set(ENV{PKG_CONFIG_LIBDIR} "${_et_sysroot}/usr/lib/aarch64-linux-gnu/pkgconfig:${_et_sysroot}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${_et_sysroot}")

find_program(_et_qemu NAMES qemu-aarch64-static qemu-aarch64)
if(_et_qemu)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${_et_qemu};-L;${_et_sysroot}")
endif()
