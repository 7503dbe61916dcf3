// Process-group communication for data-parallel training and sharded reference building (docs/DISTRIBUTED.md).
//
// A Communicator is the group of cooperating processes: rank() in [0, size()). Two implementations:
//   * the single-process one (size 1): every collective is the identity, so code written against a Communicator
//     runs unchanged without MPI;
//   * the MPI one (dist/mpi_communicator.cpp, built when CMake finds MPI; CQ_MPI=AUTO|ON|OFF), used when the process
//     was started by mpirun/mpiexec with more than one rank.
//
// Determinism: sum_floats/sum_doubles do not use MPI_Allreduce, whose reduction order is the MPI library's choice
// (it may depend on message size, algorithm tuning and topology). Instead every rank sends its buffer to rank 0, which
// adds the contributions in rank order 0, 1, ..., N-1 in the buffer's own precision, then broadcasts the result. For a
// fixed rank count the sum is therefore bit-identical from run to run, and every rank receives the same bytes (so
// replicated optimiser states never drift apart). The price is O(N) traffic at rank 0 per element instead of a ring's
// O(1); DISTRIBUTED.md gives the numbers and the ring/NCCL design for large N.
//
// Errors: MPI failures throw cq::Error naming the call and the MPI error string (the MPI implementation uses
// MPI_ERRORS_RETURN). A rank that dies is detected by mpirun, which terminates the others (see DISTRIBUTED.md).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cq::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "single process" or "MPI (Open MPI v4.1.4), 2 ranks"
  virtual std::string describe() const = 0;

  // In-place element-wise sum over all ranks, rank order fixed (see above); every rank gets the same result.
  virtual void sum_floats(float* data, int64_t n) = 0;
  virtual void sum_doubles(double* data, int64_t n) = 0;
  // Every rank's `bytes` replaced by root's.
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  // Small buffers: returns, on every rank, each rank's bytes in rank order (sizes may differ per rank).
  virtual std::vector<std::string> all_gather(const std::string& bytes) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the job now with `code` (a rank that cannot go on must not leave the others waiting). The
  // single-process communicator has no other ranks and throws cq::Error instead (exit codes belong to apps/).
  [[noreturn]] virtual void abort(int code) = 0;
  // True when the calls above may come from a thread other than the one that created the communicator, one thread at
  // a time (MPI_THREAD_SERIALIZED): the overlapped gradient sum's communication thread (dist/overlapped_reducer.h).
  virtual bool allows_helper_thread() const = 0;

  bool is_root() const { return rank() == 0; }
};

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string describe() const override { return "single process"; }
  void sum_floats(float*, int64_t) override {}
  void sum_doubles(double*, int64_t) override {}
  void broadcast(void*, int64_t, int) override {}
  std::vector<std::string> all_gather(const std::string& bytes) override { return {bytes}; }
  void barrier() override {}
  [[noreturn]] void abort(int code) override;
  bool allows_helper_thread() const override { return true; }
};

// True when this binary was built with MPI.
bool built_with_mpi();
// True when the environment says a launcher (Open MPI, MPICH/PMI, Slurm's PMIx) started this process with more than
// one rank.
bool launched_multi_rank();
// The MPI communicator (MPI_COMM_WORLD; initialises MPI, finalised when the object dies) when launched by mpirun with
// more than one rank; otherwise a SingleProcess. Throws cq::Error when launched multi-rank by a binary without MPI
// (the ranks would silently each train the whole job).
std::unique_ptr<Communicator> make_communicator();

// This process's index among the ranks on its node (Open MPI, MPICH/PMI or Slurm environment), or -1 when no
// launcher says: under mpirun with --device cuda each rank takes GPU local_rank % device_count.
int local_rank();

}  // namespace cq::dist

namespace cq::dist {

// The balanced contiguous split used everywhere (batches, image lists): part `rank` of `size` of n items is
// [n*rank/size, n*(rank+1)/size); sizes differ by at most one, and concatenating the parts in rank order gives 0..n.
struct Range {
  int64_t lo = 0, hi = 0;
};
inline Range shard_range(int64_t n, int rank, int size) { return {n * rank / size, n * (rank + 1) / size}; }

}  // namespace cq::dist
