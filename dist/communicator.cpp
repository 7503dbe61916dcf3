#include "dist/communicator.h"

#include <cstdlib>

#include "tensor/error.h"

namespace cq::dist {

#ifndef CQ_MPI
bool built_with_mpi() { return false; }
#endif

// One process has no other ranks to stop: the library does not end the program, it reports (apps/ decides the exit).
void SingleProcess::abort(int code) { fail("single-process run aborted with code ", code); }

bool launched_multi_rank() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"}) {
    const char* v = std::getenv(var);
    if (v && std::atoi(v) > 1) return true;
  }
  return false;
}

int local_rank() {
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMI_LOCAL_RANK", "SLURM_LOCALID"}) {
    const char* v = std::getenv(var);
    if (v && *v) return std::atoi(v);
  }
  return -1;
}

#ifdef CQ_MPI
std::unique_ptr<Communicator> make_mpi_communicator();  // dist/mpi_communicator.cpp
#endif

std::unique_ptr<Communicator> make_communicator() {
  if (!launched_multi_rank()) return std::make_unique<SingleProcess>();
#ifdef CQ_MPI
  return make_mpi_communicator();
#else
  throw Error(
      "this process was started by an MPI launcher with more than one rank, but cqseg was built without MPI "
      "(install libopenmpi-dev and rebuild with -DCQ_MPI=ON); refusing to run N independent copies of the job");
#endif
}

}  // namespace cq::dist
