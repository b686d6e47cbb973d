// Filesystem backend specifics: the on-disk layout, key validation against
// path traversal, atomic puts (temp files never visible), directory
// cleanup, the MD5 ETag cache, and stale temp file removal.
#include "io/filesystem_object_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "harness/harness.h"
#include "io/crypto.h"

namespace sightline::io {
namespace {

namespace fs = std::filesystem;
using sightline::testing::TempDir;

class FilesystemObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.Join("root");
    auto store = FilesystemObjectStore::Open(root_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  std::vector<std::string> AllFiles() {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(root_)) {
      out.push_back(fs::relative(e.path(), root_).string() + (e.is_directory() ? "/" : ""));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  TempDir tmp_;
  std::string root_;
  std::unique_ptr<FilesystemObjectStore> store_;
};

TEST_F(FilesystemObjectStoreTest, LayoutIsOneFilePerKey) {
  ASSERT_TRUE(store_->Put("metrics/tenant/01ABC/meta.json", "{}").ok());
  EXPECT_EQ(sightline::testing::ReadFile(root_ + "/metrics/tenant/01ABC/meta.json"), "{}");
  EXPECT_EQ(AllFiles(),
            (std::vector<std::string>{"metrics/", "metrics/tenant/", "metrics/tenant/01ABC/",
                                      "metrics/tenant/01ABC/meta.json"}));
  EXPECT_EQ(store_->Describe(), "filesystem:" + fs::canonical(root_).string());
}

TEST_F(FilesystemObjectStoreTest, TraversalAttemptsRejected) {
  // A file outside the root that a traversal would reach.
  sightline::testing::WriteFile(tmp_.Join("secret"), "do not touch");
  const std::vector<std::string> attacks = {
      "../secret",   "a/../../secret", "..",   ".",        "a/./b",
      "/etc/passwd", "a//b",           "a/",   "",         std::string("a\0b", 3),
      "..\\secret",  "a\\..\\b",       "a/..", "./secret",
  };
  for (const std::string& key : attacks) {
    EXPECT_EQ(store_->Put(key, "pwned").code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->Get(key).status().code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->GetRange(key, 0, 1).status().code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->Head(key).status().code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->Delete(key).code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->PutFile(key, tmp_.Join("secret")).code(), StatusCode::kInvalidArgument)
        << key;
  }
  EXPECT_EQ(sightline::testing::ReadFile(tmp_.Join("secret")), "do not touch");
  EXPECT_TRUE(AllFiles().empty());
  // Listing with a traversal prefix finds nothing (and reads nothing outside).
  auto page = store_->List({.prefix = "../"});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_TRUE(page->objects.empty());
}

TEST_F(FilesystemObjectStoreTest, SymlinksAreNotObjects) {
  sightline::testing::WriteFile(tmp_.Join("outside"), "outside data");
  ASSERT_TRUE(store_->Put("dir/real", "r").ok());
  ASSERT_EQ(::symlink(tmp_.Join("outside").c_str(), (root_ + "/dir/link").c_str()), 0);
  EXPECT_EQ(store_->Get("dir/link").status().code(), StatusCode::kNotFound);
  auto page = store_->List({.prefix = "dir/"});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "dir/real");
}

TEST_F(FilesystemObjectStoreTest, TempFilesAreNeverListed) {
  ASSERT_TRUE(store_->Put("blk/chunks/000001", "data").ok());
  // What a crashed upload leaves behind.
  sightline::testing::WriteFile(root_ + "/blk/chunks/.sightline-tmp-deadbeef", "partial");
  sightline::testing::WriteFile(root_ + "/blk/.sightline-tmp-0123", "partial");
  auto page = store_->List({.prefix = "blk/"});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "blk/chunks/000001");
  page = store_->List({.prefix = "blk/", .delimiter = "/"});
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->objects.empty());
  EXPECT_EQ(page->common_prefixes, std::vector<std::string>{"blk/chunks/"});
  // And their names cannot be used as keys.
  EXPECT_EQ(store_->Get("blk/.sightline-tmp-0123").status().code(), StatusCode::kInvalidArgument);
}

// A reader racing with writers only ever sees complete objects, and the
// temp files in flight never show up in listings.
TEST_F(FilesystemObjectStoreTest, PutIsAtomicUnderConcurrentReaders) {
  const std::string a(256 * 1024, 'a');
  const std::string b(300 * 1024, 'b');
  ASSERT_TRUE(store_->Put("atomic/obj", a).ok());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < 60; ++i) ASSERT_TRUE(store_->Put("atomic/obj", i % 2 ? b : a).ok());
    stop = true;
  });
  int reads = 0, lists = 0;
  while (!stop) {
    auto got = store_->Get("atomic/obj");
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_TRUE(*got == a || *got == b) << "partial object of size " << got->size();
    ++reads;
    auto page = store_->List({.prefix = "atomic/"});
    ASSERT_TRUE(page.ok());
    ASSERT_EQ(page->objects.size(), 1u);
    ASSERT_EQ(page->objects[0].key, "atomic/obj");
    ++lists;
  }
  writer.join();
  EXPECT_GT(reads, 0);
  // No temp file survives a successful Put.
  EXPECT_EQ(AllFiles(), (std::vector<std::string>{"atomic/", "atomic/obj"}));
}

TEST_F(FilesystemObjectStoreTest, FailedPutLeavesOldObjectAndNoTempFile) {
  ASSERT_TRUE(store_->Put("f/obj", "old").ok());
  // PutFile of an unreadable source (a directory) fails while writing.
  Status s = store_->PutFile("f/obj", tmp_.path());
  EXPECT_FALSE(s.ok());
  auto got = store_->Get("f/obj");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "old");
  EXPECT_EQ(AllFiles(), (std::vector<std::string>{"f/", "f/obj"}));
}

TEST_F(FilesystemObjectStoreTest, DeleteRemovesEmptyDirectories) {
  ASSERT_TRUE(store_->Put("a/b/c/d", "1").ok());
  ASSERT_TRUE(store_->Put("a/x", "2").ok());
  ASSERT_TRUE(store_->Delete("a/b/c/d").ok());
  EXPECT_EQ(AllFiles(), (std::vector<std::string>{"a/", "a/x"}));
  ASSERT_TRUE(store_->Delete("a/x").ok());
  EXPECT_TRUE(AllFiles().empty());
  EXPECT_TRUE(fs::is_directory(root_));  // the root itself stays
}

TEST_F(FilesystemObjectStoreTest, KeyBelowAnObjectIsFailedPrecondition) {
  ASSERT_TRUE(store_->Put("a", "object").ok());
  EXPECT_EQ(store_->Put("a/b", "x").code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->Put("c/d", "x").ok());
  EXPECT_EQ(store_->Put("c", "x").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(AllFiles(), (std::vector<std::string>{"a", "c/", "c/d"}));
}

TEST_F(FilesystemObjectStoreTest, EtagIsMd5AndSurvivesMissingXattr) {
  ASSERT_TRUE(store_->Put("e/obj", "hello world").ok());
  auto head = store_->Head("e/obj");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->etag, "5eb63bbbe01eeed093cb22bb8f5acdc3");  // md5("hello world")
  // A file copied in by hand (no xattr): the ETag is computed from content.
  sightline::testing::WriteFile(root_ + "/e/manual", "hello world");
  head = store_->Head("e/manual");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->etag, "5eb63bbbe01eeed093cb22bb8f5acdc3");
  EXPECT_EQ(head->storage_class, "STANDARD");
  // Rewritten in place by another tool: the cached ETag is stale and ignored.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  {
    std::ofstream out(root_ + "/e/obj", std::ios::trunc);
    out << "changed";
  }
  head = store_->Head("e/obj");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->etag, HexEncode(Md5("changed")));
  EXPECT_EQ(head->size, 7u);
}

TEST_F(FilesystemObjectStoreTest, RemoveStaleTempFiles) {
  ASSERT_TRUE(store_->Put("s/obj", "x").ok());
  std::string old_tmp = root_ + "/s/.sightline-tmp-old";
  std::string new_tmp = root_ + "/s/.sightline-tmp-new";
  sightline::testing::WriteFile(old_tmp, "stale");
  sightline::testing::WriteFile(new_tmp, "in flight");
  auto two_hours_ago = fs::file_time_type::clock::now() - std::chrono::hours(2);
  fs::last_write_time(old_tmp, two_hours_ago);
  ASSERT_TRUE(store_->RemoveStaleTempFiles(std::chrono::hours(1)).ok());
  EXPECT_FALSE(fs::exists(old_tmp));
  EXPECT_TRUE(fs::exists(new_tmp));
  EXPECT_TRUE(fs::exists(root_ + "/s/obj"));
}

TEST_F(FilesystemObjectStoreTest, OpenRejectsAFile) {
  sightline::testing::WriteFile(tmp_.Join("plain"), "x");
  EXPECT_FALSE(FilesystemObjectStore::Open(tmp_.Join("plain")).ok());
  EXPECT_EQ(FilesystemObjectStore::Open("").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(FilesystemObjectStoreTest, ReopenSeesExistingObjects) {
  ASSERT_TRUE(store_->Put("persist/me", "durable").ok());
  store_.reset();
  auto again = FilesystemObjectStore::Open(root_);
  ASSERT_TRUE(again.ok());
  auto got = (*again)->Get("persist/me");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "durable");
}

}  // namespace
}  // namespace sightline::io
