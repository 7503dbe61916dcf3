// Winograd F(2x2, 3x3) for float 3x3 stride-1 convolutions on the CPU (Lavin & Gray 2016): each 2x2 block of output
// pixels ("tile") is A^T [sum_c (G g_c G^T) . (B^T d_c B)] A, with d_c the tile's 4x4 input window of channel c. The
// sum over c is 16 small GEMMs (one per position xi of the 4x4 transform domain): 2.25x fewer multiplications than
// the direct convolution. Blocked so that nothing large is materialised: a thread transforms up to 128 tiles (groups
// of 16 along a tile row) of every input channel into an L2 buffer, runs the 16 GEMMs 32 tiles at a time into an
// L1/L2 buffer and transforms those 32 tiles back straight into the output (with the inference epilogue: scale,
// shift, ReLU/SiLU).
//
// Rounding differs from the direct sum (the transforms add and subtract inputs before the products, and the weights'
// transform halves sums): the result agrees with the direct convolution to ~1e-6 of the output's scale (tested,
// tests/kernels/winograd_test.cpp). It is fixed for a given input: the channel sums run in order, every output is
// computed by one thread, and the tile split does not depend on the thread count, so results are bit-identical for
// any thread count. CQ_CONV_WINOGRAD=0 in the environment turns it off (the direct kernel then runs, reproducing
// results computed before this algorithm existed bit for bit).
#pragma once
#include <cstdint>

namespace cq::kernels::winograd {

// Whether this CPU/build has the AVX-512 kernels (winograd_avx512.cpp).
bool available();
// Whether conv2d uses Winograd where a shape prefers it: available() and not turned off by CQ_CONV_WINOGRAD=0 (run
// manifests record it, since it fixes the last bits of every result).
bool enabled();
// Whether conv2d picks Winograd for a float 3x3, stride-1, dilation-1, one-group conv of this shape: available, not
// turned off, enough channels for the 16 GEMMs and rows of enough tiles (measured, see winograd.cpp).
bool preferred(int64_t C, int64_t CO, int64_t OH, int64_t OW);

// Floats of scratch conv3x3 needs (transformed weights + per-thread buffers), for the caller's caching allocator.
int64_t scratch_floats(int64_t C, int64_t CO, int64_t OH, int64_t OW, int threads);

// out [CO, OH, OW] = act(scale[co] * conv(x, w)[co] + shift[co]) for one image x [C, H, W], w [CO, C, 3, 3], stride 1,
// top/left padding pt/pl (the bottom/right padding follows from OH, OW; zeros outside x). scale/shift nullptr: 1
// and 0 (a bias goes in shift). act: 0 identity, 1 ReLU, 2 SiLU. Needs available(). w == nullptr: the weights
// transformed by an earlier call with this scratch, C and CO are reused (the other images of a batch).
void conv3x3(const float* x, int64_t C, int64_t H, int64_t W, const float* w, int64_t CO, int64_t pt, int64_t pl,
             float* out, int64_t OH, int64_t OW, const float* scale, const float* shift, int act, float* scratch,
             int threads);

// Internal to conv3x3: one work item (NT / 16 groups of 16 tiles from flattened group g0) in winograd_avx512.cpp.
struct Block {
  const float* x;
  int64_t C, H, W, pt, pl;
  const float* U;  // transformed weights [16][COp / 8][C][8]
  int64_t CO, COp;
  float* out;
  int64_t OH, OW;
  const float* scale;  // never null here (the driver passes ones / zeros)
  const float* shift;
  bool relu;
  float* V;  // this thread's [16][NT / 32][C][32]
  float* M;  // this thread's [16][COp][32]
  int64_t NT;  // tiles per work item, a multiple of 32
};
using BlockFn = void (*)(const Block& b, int64_t g0);
BlockFn block_avx512();  // nullptr when the compiler could not build it

}  // namespace cq::kernels::winograd
