// ET_CPU_CLONES: compile a hot CPU loop twice, for AVX2 + FMA (arch=haswell) and for the build's
// baseline, and pick one at load time (GCC function multi-versioning on x86-64 Linux; elsewhere
// the baseline alone). The project builds for plain x86-64, so without this the compiler's
// vectorizer would stop at SSE2. A lambda inside such a function is not cloned: put the loop in
// the function itself.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define ET_CPU_CLONES __attribute__((target_clones("arch=haswell", "default")))
#else
#define ET_CPU_CLONES
#endif
