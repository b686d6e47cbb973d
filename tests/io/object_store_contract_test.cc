// The ObjectStore contract (src/io/object_store.h), run against every
// backend: memory, filesystem, and S3 (the real s3rver, started by the
// harness). Each backend is opened through OpenObjectStore(), so the
// instrumented wrapper is in the path too.
//
// s3rver differs from S3 in ways the shared cases must avoid (the exact
// behaviour is asserted where a backend claims it):
//  - its delimiter listing misses common prefixes whose folder holds only
//    sub-folders (shared/recipes.md), and repeats common prefixes across
//    pages;
//  - it lists every object as STANDARD;
//  - it overwrites objects in place, so a GET racing with a PUT of the same
//    key can return a mix (S3 replaces objects atomically);
//  - a Range GET on an empty object answers "206, Content-Length: 1" with no
//    body (S3 answers 416; s3_client_test covers that path with a fake).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "harness/harness.h"
#include "io/crypto.h"
#include "io/object_store.h"
#include "io/storage_config.h"

namespace sightline::io {
namespace {

using sightline::testing::S3rver;
using sightline::testing::TempDir;

struct BackendParam {
  std::string name;
  // s3rver's listing quirks (see top of file) do not apply.
  bool exact_listing = true;
  // ListObjectsV2 reports each object's storage class.
  bool lists_storage_class = true;
  // A GET never sees a mix of two PUTs of the same key.
  bool atomic_overwrite = true;
  // A Range GET on an empty object is answered correctly.
  bool range_on_empty_object = true;
};

void PrintTo(const BackendParam& p, std::ostream* os) { *os << p.name; }

// One s3rver for the whole test binary; tests isolate themselves with a key
// prefix of their own.
S3rver* SharedS3rver(std::string* why_not) {
  static std::unique_ptr<S3rver> server;
  static std::string error;
  static bool tried = false;
  if (!tried) {
    tried = true;
    if (!S3rver::Available()) {
      error = "s3rver is not installed in " + sightline::testing::ToolsDir() +
              " (run scripts/bootstrap)";
    } else {
      auto s = S3rver::Start("contract");
      if (s.ok()) {
        server = std::move(s).value();
      } else {
        error = s.status().ToString();
      }
    }
  }
  *why_not = error;
  return server.get();
}

class ObjectStoreContractTest : public ::testing::TestWithParam<BackendParam> {
 protected:
  void SetUp() override {
    const BackendParam& p = GetParam();
    StorageConfig cfg;
    cfg.backend = p.name;
    if (p.name == "filesystem") {
      cfg.filesystem_path = tmp_.Join("store");
    } else if (p.name == "s3") {
      std::string why;
      S3rver* server = SharedS3rver(&why);
      if (server == nullptr) GTEST_SKIP() << "S3 contract tests skipped: " << why;
      cfg.s3.endpoint = server->endpoint();
      cfg.s3.bucket = server->bucket();
      cfg.s3.force_path_style = true;
      cfg.s3.access_key_id = "S3RVER";
      cfg.s3.secret_access_key = "S3RVER";
      const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
      cfg.s3.prefix = std::string(info->name()).substr(0, std::string(info->name()).find('/'));
      // Small multipart settings so that PutFile exercises the multipart path
      // with a few MiB (s3rver does not enforce S3's 5 MiB part minimum).
      cfg.s3.multipart_threshold = 1 << 20;
      cfg.s3.part_size = 1 << 20;
      cfg.s3.max_retries = 2;
      cfg.s3.backoff_min_ms = 10;
      cfg.s3.backoff_max_ms = 50;
    }
    auto store = OpenObjectStore(cfg);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  ObjectStore& store() { return *store_; }

  void PutOrDie(const std::string& key, std::string_view data, const PutOptions& opts = {}) {
    Status s = store().Put(key, data, opts);
    ASSERT_TRUE(s.ok()) << key << ": " << s.ToString();
  }

  std::vector<std::string> ListKeys(const std::string& prefix) {
    std::vector<std::string> keys;
    Status s = ListAll(store(), prefix, [&](const ObjectInfo& info) {
      keys.push_back(info.key);
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return keys;
  }

  std::string WriteLocalFile(const std::string& name, const std::string& data) {
    std::string path = tmp_.Join(name);
    std::ofstream out(path, std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    return path;
  }

  TempDir tmp_;
  std::unique_ptr<ObjectStore> store_;
};

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST_P(ObjectStoreContractTest, PutGetOverwrite) {
  PutOrDie("a/object", "first version");
  auto got = store().Get("a/object");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "first version");

  PutOrDie("a/object", "v2");
  got = store().Get("a/object");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "v2");
  auto head = store().Head("a/object");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->size, 2u);
  EXPECT_EQ(head->key, "a/object");
}

TEST_P(ObjectStoreContractTest, EmptyObject) {
  PutOrDie("empty", "");
  auto got = store().Get("empty");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "");
  auto head = store().Head("empty");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->size, 0u);
  EXPECT_EQ(head->etag, HexEncode(Md5("")));
  if (GetParam().range_on_empty_object) {
    auto range = store().GetRange("empty", 0, 10);
    ASSERT_TRUE(range.ok()) << range.status().ToString();
    EXPECT_EQ(*range, "");
  }
  auto none = store().GetRange("empty", 0, 0);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(*none, "");
  EXPECT_EQ(store().GetRange("empty", 1, 0).status().code(), StatusCode::kOutOfRange);
}

TEST_P(ObjectStoreContractTest, MissingKeys) {
  EXPECT_EQ(store().Get("no/such/key").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store().GetRange("no/such/key", 0, 10).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store().GetRange("no/such/key", 0, 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store().Head("no/such/key").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store().Delete("no/such/key").ok());
  // A prefix of existing keys is not an object.
  PutOrDie("dir/child", "x");
  EXPECT_EQ(store().Get("dir").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store().Head("dir").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store().Delete("dir").ok());
  EXPECT_TRUE(store().Get("dir/child").ok());
}

TEST_P(ObjectStoreContractTest, RangeReads) {
  std::string data = RandomBytes(1000, 7);
  PutOrDie("range/obj", data);
  struct Case {
    uint64_t offset, length;
  };
  for (Case c : {Case{0, 10}, Case{0, 1000}, Case{123, 456}, Case{990, 10}, Case{999, 1},
                 Case{990, 100} /* runs past the end */, Case{0, 5000}, Case{500, UINT64_MAX}}) {
    auto got = store().GetRange("range/obj", c.offset, c.length);
    ASSERT_TRUE(got.ok()) << c.offset << "+" << c.length << ": " << got.status().ToString();
    EXPECT_EQ(*got, data.substr(c.offset, c.length)) << c.offset << "+" << c.length;
  }
  // At the end: empty; beyond the end: OutOfRange.
  auto at_end = store().GetRange("range/obj", 1000, 5);
  ASSERT_TRUE(at_end.ok()) << at_end.status().ToString();
  EXPECT_EQ(*at_end, "");
  auto zero = store().GetRange("range/obj", 10, 0);
  ASSERT_TRUE(zero.ok()) << zero.status().ToString();
  EXPECT_EQ(*zero, "");
  EXPECT_EQ(store().GetRange("range/obj", 1001, 5).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(store().GetRange("range/obj", 5000, 0).status().code(), StatusCode::kOutOfRange);
}

TEST_P(ObjectStoreContractTest, HeadReportsSizeEtagTimeAndStorageClass) {
  auto before = std::chrono::system_clock::now();
  std::string data = RandomBytes(4321, 3);
  PutOptions opts;
  opts.storage_class = "STANDARD_IA";
  PutOrDie("meta/ia", data, opts);
  PutOrDie("meta/default", "x");

  auto head = store().Head("meta/ia");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->size, data.size());
  EXPECT_EQ(head->etag, HexEncode(Md5(data)));
  EXPECT_EQ(head->storage_class, "STANDARD_IA");
  int64_t before_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(before.time_since_epoch()).count();
  // HTTP dates have one-second resolution.
  EXPECT_GE(head->last_modified_ms, before_ms - 2000);
  EXPECT_LE(head->last_modified_ms, before_ms + 120000);

  auto plain = store().Head("meta/default");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->storage_class, "STANDARD");

  ListOptions lo;
  lo.prefix = "meta/";
  auto page = store().List(lo);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[1].key, "meta/ia");
  EXPECT_EQ(page->objects[1].size, data.size());
  EXPECT_EQ(page->objects[1].etag, HexEncode(Md5(data)));
  EXPECT_GE(page->objects[1].last_modified_ms, before_ms - 2000);
  if (GetParam().lists_storage_class) {
    EXPECT_EQ(page->objects[1].storage_class, "STANDARD_IA");
    EXPECT_EQ(page->objects[0].storage_class, "STANDARD");
  }
}

TEST_P(ObjectStoreContractTest, BinaryDataWithNuls) {
  std::string data;
  for (int round = 0; round < 4; ++round) {
    for (int b = 0; b < 256; ++b) data += static_cast<char>(b);
  }
  data += std::string(100, '\0');
  PutOrDie("bin/all-bytes", data);
  auto got = store().Get("bin/all-bytes");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data);
  auto range = store().GetRange("bin/all-bytes", 250, 20);
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  EXPECT_EQ(*range, data.substr(250, 20));

  std::string path = WriteLocalFile("bin.dat", data);
  ASSERT_TRUE(store().PutFile("bin/from-file", path).ok());
  got = store().Get("bin/from-file");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data);
}

TEST_P(ObjectStoreContractTest, KeysWithSpacesAndUnicode) {
  const std::vector<std::string> keys = {
      "odd/dir with space/file name.txt",
      "odd/ünïcödé/日本語/ключ",
      "odd/punct/a+b=c&d%20e~!'()*,;:@$",
      "odd/emoji 🙂.bin",
  };
  for (size_t i = 0; i < keys.size(); ++i) PutOrDie(keys[i], "value " + std::to_string(i));
  for (size_t i = 0; i < keys.size(); ++i) {
    auto got = store().Get(keys[i]);
    ASSERT_TRUE(got.ok()) << keys[i] << ": " << got.status().ToString();
    EXPECT_EQ(*got, "value " + std::to_string(i));
    auto head = store().Head(keys[i]);
    ASSERT_TRUE(head.ok()) << keys[i] << ": " << head.status().ToString();
    EXPECT_EQ(head->key, keys[i]);
  }
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(ListKeys("odd/"), sorted);
  auto page = store().List({.prefix = "odd/ünïcödé/"});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, keys[1]);
  ASSERT_TRUE(store().Delete(keys[2]).ok());
  EXPECT_EQ(store().Get(keys[2]).status().code(), StatusCode::kNotFound);
}

// Every folder that must roll up into a common prefix holds an object of its
// own (s3rver quirk, see top of file).
TEST_P(ObjectStoreContractTest, ListWithPrefixAndDelimiter) {
  for (const char* key : {"blocks/01/meta.json", "blocks/01/chunks/000001", "blocks/02/meta.json",
                          "blocks/index.json", "blocksx", "other/a"}) {
    PutOrDie(key, key);
  }
  auto page = store().List({.prefix = "blocks/", .delimiter = "/"});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "blocks/index.json");
  EXPECT_EQ(page->objects[0].size, std::string("blocks/index.json").size());
  EXPECT_EQ(page->common_prefixes, (std::vector<std::string>{"blocks/01/", "blocks/02/"}));
  EXPECT_TRUE(page->next_continuation_token.empty());

  page = store().List({.prefix = "", .delimiter = "/"});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "blocksx");
  EXPECT_EQ(page->common_prefixes, (std::vector<std::string>{"blocks/", "other/"}));

  // A prefix that ends inside a path segment.
  page = store().List({.prefix = "blocks/0", .delimiter = "/"});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_TRUE(page->objects.empty());
  EXPECT_EQ(page->common_prefixes, (std::vector<std::string>{"blocks/01/", "blocks/02/"}));

  page = store().List({.prefix = "blocks/01/", .delimiter = "/"});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "blocks/01/meta.json");
  EXPECT_EQ(page->common_prefixes, (std::vector<std::string>{"blocks/01/chunks/"}));

  // Recursive listing, in byte order.
  EXPECT_EQ(ListKeys("blocks/"),
            (std::vector<std::string>{"blocks/01/chunks/000001", "blocks/01/meta.json",
                                      "blocks/02/meta.json", "blocks/index.json"}));
  EXPECT_EQ(ListKeys("blocks"),
            (std::vector<std::string>{"blocks/01/chunks/000001", "blocks/01/meta.json",
                                      "blocks/02/meta.json", "blocks/index.json", "blocksx"}));
  EXPECT_TRUE(ListKeys("nothing/here/").empty());
}

TEST_P(ObjectStoreContractTest, ListPaginationAndStartAfter) {
  std::vector<std::string> keys;
  for (int i = 0; i < 25; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "page/k%03d", i);
    keys.push_back(name);
    PutOrDie(name, "x");
  }
  PutOrDie("pagez", "not under the prefix");

  ListOptions opts{.prefix = "page/", .max_keys = 10};
  std::vector<size_t> sizes;
  std::vector<std::string> seen;
  while (true) {
    auto page = store().List(opts);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    sizes.push_back(page->objects.size());
    for (const auto& o : page->objects) seen.push_back(o.key);
    if (page->next_continuation_token.empty()) break;
    opts.continuation_token = page->next_continuation_token;
    ASSERT_LT(sizes.size(), 10u) << "pagination does not end";
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{10, 10, 5}));
  EXPECT_EQ(seen, keys);

  auto after = store().List({.prefix = "page/", .start_after = "page/k019"});
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  std::vector<std::string> got;
  for (const auto& o : after->objects) got.push_back(o.key);
  EXPECT_EQ(got, std::vector<std::string>(keys.begin() + 20, keys.end()));

  // start_after between keys, combined with paging.
  ListOptions opts2{.prefix = "page/", .start_after = "page/k01", .max_keys = 4};
  auto first = store().List(opts2);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->objects.size(), 4u);
  EXPECT_EQ(first->objects[0].key, "page/k010");
  ASSERT_FALSE(first->next_continuation_token.empty());
  opts2.continuation_token = first->next_continuation_token;
  auto second = store().List(opts2);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  ASSERT_FALSE(second->objects.empty());
  EXPECT_EQ(second->objects[0].key, "page/k014");

  // max_keys exactly the number of keys: one full page, no token.
  auto exact = store().List({.prefix = "page/k00", .max_keys = 10});
  ASSERT_TRUE(exact.ok()) << exact.status().ToString();
  EXPECT_EQ(exact->objects.size(), 10u);
  EXPECT_TRUE(exact->next_continuation_token.empty());
}

TEST_P(ObjectStoreContractTest, ListPaginationWithDelimiter) {
  // Each common-prefix folder has a direct object (s3rver quirk).
  const std::vector<std::string> keys = {"t/a/1", "t/a/2", "t/b",   "t/c/1", "t/c/d/2",
                                         "t/d",   "t/e/1", "t/f/1", "t/g"};
  for (const auto& k : keys) PutOrDie(k, k);
  const std::vector<std::string> want_objects = {"t/b", "t/d", "t/g"};
  const std::vector<std::string> want_prefixes = {"t/a/", "t/c/", "t/e/", "t/f/"};

  ListOptions opts{.prefix = "t/", .delimiter = "/", .max_keys = 2};
  std::vector<std::string> objects, prefixes;
  int pages = 0;
  while (true) {
    auto page = store().List(opts);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    ++pages;
    if (GetParam().exact_listing) {
      EXPECT_LE(page->objects.size() + page->common_prefixes.size(), 2u);
    }
    for (const auto& o : page->objects) objects.push_back(o.key);
    for (const auto& p : page->common_prefixes) prefixes.push_back(p);
    if (page->next_continuation_token.empty()) break;
    opts.continuation_token = page->next_continuation_token;
    ASSERT_LT(pages, 20) << "pagination does not end";
  }
  EXPECT_EQ(objects, want_objects);
  if (GetParam().exact_listing) {
    // 7 entries, 2 per page, each exactly once and in order.
    EXPECT_EQ(pages, 4);
    EXPECT_EQ(prefixes, want_prefixes);
  } else {
    std::set<std::string> unique(prefixes.begin(), prefixes.end());
    EXPECT_EQ(std::vector<std::string>(unique.begin(), unique.end()), want_prefixes);
  }
}

TEST_P(ObjectStoreContractTest, ListFolderHoldingOnlySubfolders) {
  if (!GetParam().exact_listing) {
    GTEST_SKIP() << "s3rver's delimiter listing misses folders that hold only sub-folders "
                    "(shared/recipes.md); memory and filesystem cover this case";
  }
  PutOrDie("deep/x/y/z", "1");
  PutOrDie("deep/x/w/v", "2");
  PutOrDie("deep/q/r", "3");
  auto page = store().List({.prefix = "deep/", .delimiter = "/"});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_TRUE(page->objects.empty());
  EXPECT_EQ(page->common_prefixes, (std::vector<std::string>{"deep/q/", "deep/x/"}));
  page = store().List({.prefix = "", .delimiter = "/"});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->common_prefixes, (std::vector<std::string>{"deep/"}));
  // start_after inside a rolled-up folder still reports the folder.
  page = store().List({.prefix = "deep/", .delimiter = "/", .start_after = "deep/x/w"});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->common_prefixes, (std::vector<std::string>{"deep/x/"}));
}

TEST_P(ObjectStoreContractTest, DeleteAndDeleteMany) {
  for (const char* k : {"del/a", "del/b", "del/c", "del/d/e", "del/f"}) PutOrDie(k, k);
  ASSERT_TRUE(store().Delete("del/a").ok());
  EXPECT_EQ(store().Get("del/a").status().code(), StatusCode::kNotFound);
  Status s = store().DeleteMany({"del/b", "del/d/e", "del/missing", "del/f"});
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ListKeys("del/"), std::vector<std::string>{"del/c"});
  auto page = store().List({.prefix = "del/", .delimiter = "/"});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_TRUE(page->common_prefixes.empty()) << page->common_prefixes[0];
  EXPECT_TRUE(store().DeleteMany({}).ok());
}

TEST_P(ObjectStoreContractTest, ManyKeysListAllAndBatchedDeleteMany) {
  // More than one ListObjectsV2 page and more than one DeleteObjects batch.
  constexpr int kKeys = 1003;
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "many/%05d", i);
    keys.push_back(name);
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kKeys; i += 4) {
        if (!store().Put(keys[i], "v").ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  EXPECT_EQ(ListKeys("many/"), keys);
  Status s = store().DeleteMany(keys);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(ListKeys("many/").empty());
}

TEST_P(ObjectStoreContractTest, PutFileSmallAndMultipart) {
  // 3 MiB + 123 bytes: above the S3 fixture's 1 MiB multipart threshold, in
  // four parts, the last one short.
  std::string big = RandomBytes((3 << 20) + 123, 11);
  std::string big_path = WriteLocalFile("big.bin", big);
  PutOptions opts;
  opts.storage_class = "STANDARD_IA";
  Status s = store().PutFile("files/big.bin", big_path, opts);
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto got = store().Get("files/big.bin");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->size(), big.size());
  EXPECT_TRUE(*got == big) << "content differs";
  auto head = store().Head("files/big.bin");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->size, big.size());
  EXPECT_EQ(head->storage_class, "STANDARD_IA");
  auto range = store().GetRange("files/big.bin", (1 << 20) - 10, 20);  // across a part boundary
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  EXPECT_EQ(*range, big.substr((1 << 20) - 10, 20));

  std::string small_path = WriteLocalFile("small.txt", "small file");
  ASSERT_TRUE(store().PutFile("files/small.txt", small_path).ok());
  got = store().Get("files/small.txt");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "small file");

  std::string empty_path = WriteLocalFile("empty", "");
  ASSERT_TRUE(store().PutFile("files/empty", empty_path).ok());
  head = store().Head("files/empty");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->size, 0u);

  EXPECT_FALSE(store().PutFile("files/missing", tmp_.Join("does-not-exist")).ok());
  EXPECT_EQ(store().Head("files/missing").status().code(), StatusCode::kNotFound);
}

TEST_P(ObjectStoreContractTest, InvalidKeysRejected) {
  for (std::string key :
       {std::string(""), std::string("/abs"), std::string("a//b"), std::string("a/../b"),
        std::string("./a"), std::string("a/"), std::string("nul\0byte", 8),
        std::string("back\\slash"), std::string("bad\xff utf8"), std::string(1025, 'k')}) {
    EXPECT_EQ(store().Put(key, "x").code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store().Get(key).status().code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store().Delete(key).code(), StatusCode::kInvalidArgument) << key;
  }
}

TEST_P(ObjectStoreContractTest, ConcurrentReadersAndWriters) {
  constexpr int kThreads = 6;
  constexpr int kRounds = 15;
  // Every version of the shared key has a distinct length and fill, so a
  // reader can tell a whole version from a torn mix.
  auto version = [](int t, int r) {
    return std::string(1000 + t * 100 + r, static_cast<char>('a' + t));
  };
  PutOrDie("conc/shared", version(0, 0));
  std::atomic<int> errors{0};
  std::vector<std::string> messages(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        std::string own = "conc/t" + std::to_string(t) + "/" + std::to_string(r);
        std::string value = RandomBytes(100 + r, t * 1000 + r);
        if (!store().Put(own, value).ok()) ++errors;
        auto got = store().Get(own);
        if (!got.ok() || *got != value) {
          ++errors;
          messages[t] = "own key mismatch " + own;
        }
        if (r % 5 == 4) {
          ListOptions lo{.prefix = "conc/t" + std::to_string(t) + "/"};
          auto page = store().List(lo);
          if (!page.ok() || page->objects.size() != static_cast<size_t>(r + 1)) {
            ++errors;
            messages[t] = "list mismatch";
          }
        }
        if (!GetParam().atomic_overwrite) continue;
        if (!store().Put("conc/shared", version(t, r)).ok()) ++errors;
        auto shared = store().Get("conc/shared");
        if (!shared.ok()) {
          ++errors;
          messages[t] = shared.status().ToString();
        } else {
          const std::string& s = *shared;
          int t2 = s.empty() ? -1 : s[0] - 'a';
          long r2 = static_cast<long>(s.size()) - 1000 - t2 * 100;
          bool whole = t2 >= 0 && t2 < kThreads && r2 >= 0 && r2 < kRounds &&
                       std::all_of(s.begin(), s.end(), [&](char c) { return c == s[0]; });
          if (!whole) {
            ++errors;
            messages[t] = "torn shared value";
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& m : messages) EXPECT_EQ(m, "");
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(ListKeys("conc/").size(), static_cast<size_t>(kThreads * kRounds + 1));
}

INSTANTIATE_TEST_SUITE_P(Backends, ObjectStoreContractTest,
                         ::testing::Values(BackendParam{"memory"}, BackendParam{"filesystem"},
                                           BackendParam{"s3", /*exact_listing=*/false,
                                                        /*lists_storage_class=*/false,
                                                        /*atomic_overwrite=*/false,
                                                        /*range_on_empty_object=*/false}),
                         [](const ::testing::TestParamInfo<BackendParam>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace sightline::io
