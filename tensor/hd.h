// CQ_HD marks per-element math shared by CPU and CUDA kernels: compiled for the host by g++ (and so covered by
// the CPU tests) and for the device by nvcc.
#pragma once
#if defined(__CUDACC__)
#define CQ_HD __host__ __device__ __forceinline__
#else
#define CQ_HD inline
#endif
