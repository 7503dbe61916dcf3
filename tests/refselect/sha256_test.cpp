#include "refselect/sha256.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/support/shared.h"
#include "tests/support/test_util.h"

using namespace cq::dcin;

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Negative: one changed byte changes the digest.
  EXPECT_NE(sha256_hex("abd"), sha256_hex("abc"));
}

TEST(Sha256, IncrementalEqualsOneShot) {
  std::string msg;
  for (int i = 0; i < 1000; ++i) msg.push_back(static_cast<char>(i * 7 + 3));
  for (size_t chunk : {1u, 3u, 55u, 56u, 63u, 64u, 65u, 200u}) {
    Sha256 h;
    for (size_t i = 0; i < msg.size(); i += chunk) h.update(msg.data() + i, std::min(chunk, msg.size() - i));
    EXPECT_EQ(to_hex(h.digest()), sha256_hex(msg)) << chunk;
  }
  // Lengths around the padding boundary.
  EXPECT_EQ(sha256_hex(std::string(55, 'a')), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(sha256_hex(std::string(56, 'a')), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
}

TEST(Sha256, FileMatchesSharedChecksums) {
  CQ_REQUIRE_SHARED("data/fundus/SHA256SUMS");
  const std::string root = cq::testing::shared_dir() + "/data/fundus/";
  std::ifstream in(root + "SHA256SUMS");
  std::string line;
  int checked = 0;
  while (checked < 3 && std::getline(in, line)) {
    std::istringstream ls(line);
    std::string digest, name;
    ls >> digest >> name;
    EXPECT_EQ(sha256_file(root + name), digest) << name;
    ++checked;
  }
  EXPECT_EQ(checked, 3);
  std::string e = cq::testing::error_of([&] { sha256_file(root + "no/such.png"); });
  EXPECT_TRUE(cq::testing::contains(e, "no/such.png: cannot open")) << e;
}
