// Run-time CPU dispatch for hot CPU loops. CQ_CPU_CLONES asks GCC to compile a function three times (x86-64-v4 =
// AVX-512, x86-64-v3 = AVX2 + FMA, and the baseline) and to pick one through an ifunc resolver when the program
// loads, so one binary runs on any x86-64 and still uses the widest vectors the machine has. The cloned function is
// a plain (non-template) function; the loops it runs are CQ_ALWAYS_INLINE templates, so each clone gets its own
// vectorised copy of them. Other compilers / architectures get the baseline only.
//
// Results: each clone is deterministic (fixed summation order, independent of the thread count), but the AVX2 and
// AVX-512 clones may contract a*b+c into an FMA where the baseline rounds twice, so float results can differ in the
// last bit between machines of different ISA levels.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__CUDACC__)
#define CQ_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CQ_CPU_CLONES
#endif

#if defined(__GNUC__)
#define CQ_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define CQ_ALWAYS_INLINE inline
#endif
