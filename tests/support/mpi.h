// Running the built `cqseg` under mpirun from a test (loopback, this machine). Tests call CQ_REQUIRE_MPI() and skip
// with a message when cqseg was built without MPI or no mpirun is installed (Debian: openmpi-bin, libopenmpi-dev).
#pragma once
#include <unistd.h>

#include <string>

#include "tests/support/cli.h"

namespace cq::testing {

inline std::string mpirun_path() {
#ifdef CQ_MPIEXEC
  if (::access(CQ_MPIEXEC, X_OK) == 0) return CQ_MPIEXEC;
#endif
  return "";
}

// `mpirun -np N PROGRAM...` (a command line of its own, e.g. a wrapper shell) with the options of run_mpi.
inline CliRun run_mpi_command(int np, const std::string& command, const std::string& env = "");

// `mpirun -np N cqseg ARGS` over shared memory only (no network), ranks allowed to share cores, root allowed (CI
// containers), passive OpenMP waiting (ranks share 2 cores here). Output: every rank's stdout and stderr.
inline CliRun run_mpi(int np, const std::string& args, const std::string& env = "") {
  return run_mpi_command(np, "'" + cqseg_path() + "' " + args, env);
}

inline CliRun run_mpi_command(int np, const std::string& command, const std::string& env) {
  // Under ASan (the CI's sanitizer run), LeakSanitizer is off in the ranks only: Open MPI keeps allocations of its
  // dlopened components past MPI_Finalize by design, and LSan cannot attribute those frames to a library to
  // suppress. Address and UB checks stay on; every other test keeps leak detection.
  const std::string cmd = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=PASSIVE "
                          "ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:detect_leaks=0\" " + env +
                          " '" + mpirun_path() + "' --oversubscribe --mca btl self,vader "
                          "--mca btl_vader_single_copy_mechanism none -x OMP_WAIT_POLICY -np " + std::to_string(np) +
                          " " + command + " 2>&1";
  return run_shell(cmd);
}

}  // namespace cq::testing

#define CQ_REQUIRE_MPI()                                                                                   \
  do {                                                                                                     \
    CQ_REQUIRE_CQSEG();                                                                                    \
    if (::cq::testing::mpirun_path().empty())                                                              \
      GTEST_SKIP() << "MPI tests skipped: cqseg built without MPI or mpirun absent (apt-get install "      \
                      "libopenmpi-dev openmpi-bin, then reconfigure with CQ_MPI=AUTO)";                    \
  } while (0)
