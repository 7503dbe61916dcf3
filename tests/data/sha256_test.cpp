// SHA-256 against the FIPS 180-2 / NIST test vectors and against the SHA256SUMS shipped with the shared data.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "data/sha256.h"
#include "tests/support/shared.h"
#include "tests/support/test_util.h"

using namespace cq;

TEST(Sha256, NistVectors) {
  EXPECT_EQ(data::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(data::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(data::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million(1000000, 'a');
  EXPECT_EQ(data::sha256_hex(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Streaming in uneven pieces gives the same digest as one update (the buffering path).
  data::Sha256 h;
  for (size_t off = 0, step = 1; off < million.size(); off += step, step = step % 97 + 1)
    h.update(million.data() + off, std::min(step, million.size() - off));
  EXPECT_EQ(h.hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Negative: one changed byte changes the digest.
  EXPECT_NE(data::sha256_hex("abd"), data::sha256_hex("abc"));
}

TEST(Sha256, PaddingBoundaries) {
  // Lengths around the 55/56/64-byte padding edges must all differ and be stable.
  std::set<std::string> seen;
  for (size_t n : {54, 55, 56, 57, 63, 64, 65, 119, 120}) seen.insert(data::sha256_hex(std::string(n, 'x')));
  EXPECT_EQ(seen.size(), 9u);
  EXPECT_EQ(data::sha256_hex(std::string(64, 'a')),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST(Sha256, FileMatchesSharedSums) {
  CQ_REQUIRE_SHARED("data/fundus/SHA256SUMS");
  const std::string dir = cq::testing::shared_dir() + "/data/fundus";
  std::ifstream f(dir + "/SHA256SUMS");
  std::string line;
  int checked = 0;
  while (std::getline(f, line) && checked < 5) {
    const std::string sum = line.substr(0, 64), rel = line.substr(66);
    EXPECT_EQ(data::sha256_file(dir + "/" + rel), sum) << rel;
    ++checked;
  }
  EXPECT_EQ(checked, 5);
  const std::string err = cq::testing::error_of([] { data::sha256_file("/nonexistent/file.png"); });
  EXPECT_TRUE(cq::testing::contains(err, "/nonexistent/file.png")) << err;
}
