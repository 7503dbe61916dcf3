// The MPI Communicator (compiled only when CMake found MPI: CQ_MPI defined). See dist/communicator.h for the
// deterministic-sum contract.
//
// Every wait is a non-blocking request polled against a deadline (CQ_DIST_TIMEOUT_S, default 1800 s): a rank that is
// alive but stuck (or a collective that never completes) becomes a cq::Error naming the operation, and the caller
// aborts the job, instead of a silent hang. A rank that dies is handled by mpirun itself (it kills the job). Polling
// sleeps between tests so a waiting rank leaves its core to the ranks still computing (ranks often share cores).
// The C API only: the deprecated MPI C++ bindings are neither needed nor -Wextra clean.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "dist/communicator.h"
#include "tensor/error.h"

namespace cq::dist {

bool built_with_mpi() { return true; }

namespace {

std::string mpi_error_text(int code) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, buf, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(buf, size_t(len));
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int inited = 0;
    MPI_Initialized(&inited);
    CQ_CHECK(!inited, "dist: MPI is already initialised in this process (one communicator per process)");
    int provided = 0;
    // One thread at a time calls MPI: the main thread, or the overlapped gradient sum's communication thread while
    // the main thread runs backward (compute threads and loader workers never do). A library that only offers
    // FUNNELED makes the trainer sum after backward instead.
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
    serialized_ = provided >= MPI_THREAD_SERIALIZED;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    if (const char* t = std::getenv("CQ_DIST_TIMEOUT_S")) timeout_s_ = std::max(1.0, std::atof(t));
  }
  ~MpiCommunicator() override {
    MPI_Comm_free(&comm_);
    MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string describe() const override {
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(v, &len);
    std::string lib(v, size_t(len));
    lib = lib.substr(0, lib.find_first_of(",\n"));
    return "MPI (" + lib + "), " + std::to_string(size_) + " ranks";
  }

  void sum_floats(float* data, int64_t n) override { sum(data, n, MPI_FLOAT); }
  void sum_doubles(double* data, int64_t n) override { sum(data, n, MPI_DOUBLE); }

  void broadcast(void* data, int64_t bytes, int root) override {
    char* p = static_cast<char*>(data);
    for (int64_t off = 0; off < bytes; off += kChunk) {
      const int cnt = int(std::min<int64_t>(kChunk, bytes - off));
      MPI_Request req;
      check(MPI_Ibcast(p + off, cnt, MPI_BYTE, root, comm_, &req), "MPI_Ibcast");
      wait(&req, "broadcast");
    }
  }

  std::vector<std::string> all_gather(const std::string& bytes) override {
    const int mine = int(bytes.size());
    std::vector<int> sizes(static_cast<size_t>(size_)), offs(static_cast<size_t>(size_));
    MPI_Request req;
    check(MPI_Iallgather(&mine, 1, MPI_INT, sizes.data(), 1, MPI_INT, comm_, &req), "MPI_Iallgather");
    wait(&req, "all_gather (sizes)");
    int total = 0;
    for (int r = 0; r < size_; ++r) offs[size_t(r)] = total, total += sizes[size_t(r)];
    std::string all(size_t(total), '\0');
    check(MPI_Iallgatherv(bytes.data(), mine, MPI_BYTE, all.data(), sizes.data(), offs.data(), MPI_BYTE, comm_, &req),
          "MPI_Iallgatherv");
    wait(&req, "all_gather");
    std::vector<std::string> out;
    for (int r = 0; r < size_; ++r) out.push_back(all.substr(size_t(offs[size_t(r)]), size_t(sizes[size_t(r)])));
    return out;
  }

  void barrier() override {
    MPI_Request req;
    check(MPI_Ibarrier(comm_, &req), "MPI_Ibarrier");
    wait(&req, "barrier");
  }

  bool allows_helper_thread() const override { return serialized_; }

  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; this keeps [[noreturn]] honest if it ever does
  }

 private:
  static constexpr int64_t kChunk = int64_t(1) << 24;  // elements per message (int counts; bounds rank 0's buffer)

  void check(int rc, const char* what) const {
    if (rc != MPI_SUCCESS)
      throw Error("dist: " + std::string(what) + " failed on rank " + std::to_string(rank_) + ": " +
                  mpi_error_text(rc));
  }

  void wait(MPI_Request* req, const char* what) {
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    for (int polls = 0;; ++polls) {
      int done = 0;
      MPI_Status st;
      check(MPI_Test(req, &done, &st), what);
      if (done) return;
      if (polls > 200) std::this_thread::sleep_for(std::chrono::microseconds(100));
      if ((polls & 255) == 0 && std::chrono::duration<double>(clock::now() - t0).count() > timeout_s_) {
        MPI_Cancel(req);
        throw Error("dist: rank " + std::to_string(rank_) + " of " + std::to_string(size_) + ": " + what +
                    " did not complete within " + std::to_string(int(timeout_s_)) +
                    " s (CQ_DIST_TIMEOUT_S); another rank is stuck or gone; stopping the job");
      }
    }
  }

  template <class T>
  void sum(T* data, int64_t n, MPI_Datatype type) {
    if (size_ == 1) return;
    for (int64_t off = 0; off < n; off += kChunk) {
      const int cnt = int(std::min<int64_t>(kChunk, n - off));
      T* p = data + off;
      MPI_Request req;
      if (rank_ == 0) {
        // Receive every contribution first (they arrive in any order), then add in rank order.
        std::vector<std::vector<T>> parts(size_t(size_ - 1), std::vector<T>(size_t(cnt)));
        std::vector<MPI_Request> reqs(size_t(size_ - 1));
        for (int r = 1; r < size_; ++r)
          check(MPI_Irecv(parts[size_t(r - 1)].data(), cnt, type, r, kTagSum, comm_, &reqs[size_t(r - 1)]),
                "MPI_Irecv");
        for (auto& q : reqs) wait(&q, "gradient sum (receive)");
        for (int r = 1; r < size_; ++r) {
          const T* q = parts[size_t(r - 1)].data();
          for (int i = 0; i < cnt; ++i) p[i] += q[i];
        }
      } else {
        check(MPI_Isend(p, cnt, type, 0, kTagSum, comm_, &req), "MPI_Isend");
        wait(&req, "gradient sum (send)");
      }
      check(MPI_Ibcast(p, cnt, type, 0, comm_, &req), "MPI_Ibcast");
      wait(&req, "gradient sum (broadcast)");
    }
  }

  static constexpr int kTagSum = 11;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  bool serialized_ = false;
  double timeout_s_ = 1800;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

}  // namespace cq::dist
