// Direct (im2col-free) CPU convolution for stride-1, groups-1 float convolutions: each thread zero-pads a band of
// rows at a time into an L2 buffer (the next band's rows fetched and copied while this one is computed), and an
// AVX-512 micro-kernel (direct_conv_avx512.cpp) reads their segments in place, keeping 8 output channels x 3
// vectors of 16 output columns in registers over the reduction (c, ki, kj), a chunk of input channels at a time so
// the chunk's rows stay in L1 for all output-channel panels. Used by conv2d's forward, its inference epilogue
// (BN + act) and the stride-1 grad_x (a full conv of G with flipped weights).
#pragma once
#include <cstdint>

namespace cq::kernels::direct_conv {

// Tile flags: continue a sum already in out (a later channel chunk), finish it (scale, shift, ReLU).
enum TileFlags : int { kRelu = 1, kContinue = 2, kFinish = 4 };
// 8 output channels x 3 slots of 16 columns, slot v reading x + xoff[v] and writing out + ooff[v] under the lane
// mask mask[v] (direct_conv_avx512.cpp); for kernel width kw; nullptr when the build cannot produce it.
using SlotTileFn = void (*)(const float* w, const float* x, const int64_t* xoff, int64_t C, int64_t kh, int64_t kw,
                            int64_t plane, int64_t wp, float* out, const int64_t* ooff, const unsigned* mask,
                            int64_t ldo, int m, const float* scale, const float* shift, int flags);
SlotTileFn slot_tile_avx512(int64_t kw);

// Whether the direct path runs here (AVX-512 present) for a float conv with this geometry.
bool available();

// out [CO, OH, OW] (contiguous, one image) = act(scale[co] * conv(x, w)[co] + shift[co]) for a stride-1 conv of
// x [C, H, W] with w [CO, C, kh, kw] and pads (pt, pl) (OH, OW given; the bottom/right padding follows from them).
// scale/shift nullptr: 1 and 0 (plain conv; a bias goes in shift). act 0 identity, 1 relu, 2 silu. Rows are split
// over threads; every output element sums (c, ki, kj) in order: bit-identical for any thread count.
// scratch: scratch_floats(..., threads) floats for the packed weights and each thread's two band buffers (from the
// caller's caching allocator: a fresh buffer per call would page-fault on every large conv).
int64_t scratch_floats(int64_t C, int64_t CO, int64_t OH, int64_t OW, int64_t kh, int64_t kw, int threads);
void conv_stride1(const float* x, int64_t C, int64_t H, int64_t W, const float* w, int64_t CO, int64_t kh, int64_t kw,
                  int64_t pt, int64_t pl, float* out, int64_t OH, int64_t OW, const float* scale, const float* shift,
                  int act, float* scratch, int threads);

}  // namespace cq::kernels::direct_conv
