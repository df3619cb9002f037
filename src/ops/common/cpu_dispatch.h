// Hot CPU loops compiled twice, for AVX2 + FMA and for the build's baseline (the project builds
// for plain x86-64, where the vectorizer stops at SSE2), the one to run picked at run time by the
// CPU's features. (GCC's target_clones("arch=haswell") is no substitute: its resolver asks for the
// CPU model, __builtin_cpu_is("haswell"), which an AMD Zen with every Haswell feature is not.)
//
//   run_best([&]() ET_CPU_INLINE { loops(...); });
//
// The lambda and everything it calls must be inlined (ET_CPU_INLINE, i.e. always_inline), so the
// whole loop nest is compiled inside each of the two targeted functions. Elsewhere than x86-64
// with GCC or clang, run_best just calls f. Torch-free.
#pragma once

#define ET_CPU_INLINE __attribute__((always_inline))

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ET_CPU_X86_DISPATCH 1
#else
#define ET_CPU_X86_DISPATCH 0
#endif

namespace et::ops::cpu {

// True when the CPU runs AVX2 and FMA instructions (found once).
inline bool cpu_has_avx2_fma() {
#if ET_CPU_X86_DISPATCH
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
#else
  return false;
#endif
}

#if ET_CPU_X86_DISPATCH
template <class F>
__attribute__((target("avx2,fma"), noinline)) void run_avx2_fma(const F& f) {
  f();
}
template <class F>
__attribute__((noinline)) void run_baseline(const F& f) {
  f();
}
template <class F>
inline void run_best(const F& f) {
  if (cpu_has_avx2_fma())
    run_avx2_fma(f);
  else
    run_baseline(f);
}
#else
template <class F>
inline void run_best(const F& f) {
  f();
}
#endif

}  // namespace et::ops::cpu
