// Thanos-named self-metrics around any store, and OpenObjectStore().
#include "io/instrumented_object_store.h"

#include <gtest/gtest.h>

#include "harness/harness.h"
#include "io/faulty_object_store.h"
#include "io/memory_object_store.h"
#include "io/storage_config.h"
#include "telemetry/metrics.h"

namespace sightline::io {
namespace {

// The value of one exposed sample, e.g.
// thanos_objstore_bucket_operations_total{bucket="b",operation="get"}.
double Sample(const std::string& exposition, const std::string& series) {
  size_t pos = 0;
  while ((pos = exposition.find(series + " ", pos)) != std::string::npos) {
    if (pos == 0 || exposition[pos - 1] == '\n') {
      return std::stod(exposition.substr(pos + series.size() + 1));
    }
    pos += series.size();
  }
  return -1;
}

std::string Series(const std::string& name, const std::string& bucket, const std::string& op) {
  return name + "{bucket=\"" + bucket + "\",operation=\"" + op + "\"}";
}

TEST(InstrumentedObjectStoreTest, CountsOperationsFailuresAndDurations) {
  telemetry::Registry registry;
  MemoryObjectStore mem;  // outlives `store`, which borrows it via the faulty wrapper
  auto faulty = std::make_unique<FaultyObjectStore>(&mem);
  FaultyObjectStore* raw_faulty = faulty.get();
  InstrumentedObjectStore store(std::move(faulty), "bkt", &registry);

  ASSERT_TRUE(store.Put("a", "1").ok());
  ASSERT_TRUE(store.Put("b", "2").ok());
  ASSERT_TRUE(store.Get("a").ok());
  EXPECT_FALSE(store.Get("missing").ok());   // expected NotFound: not a failure
  EXPECT_FALSE(store.Head("missing").ok());  // same for attributes
  raw_faulty->FailNext(kFaultGet, 1);
  EXPECT_FALSE(store.Get("a").ok());  // a real failure
  ASSERT_TRUE(store.GetRange("a", 0, 1).ok());
  ASSERT_TRUE(store.List({}).ok());
  ASSERT_TRUE(store.Delete("a").ok());
  ASSERT_TRUE(store.DeleteMany({"b"}).ok());
  raw_faulty->FailNext(kFaultPut, 1);
  EXPECT_FALSE(store.Put("c", "3").ok());

  std::string text = registry.Expose();
  const std::string ops = "thanos_objstore_bucket_operations_total";
  const std::string fails = "thanos_objstore_bucket_operation_failures_total";
  EXPECT_EQ(Sample(text, Series(ops, "bkt", "upload")), 3) << text;
  EXPECT_EQ(Sample(text, Series(ops, "bkt", "get")), 3);
  EXPECT_EQ(Sample(text, Series(ops, "bkt", "get_range")), 1);
  EXPECT_EQ(Sample(text, Series(ops, "bkt", "attributes")), 1);
  EXPECT_EQ(Sample(text, Series(ops, "bkt", "iter")), 1);
  EXPECT_EQ(Sample(text, Series(ops, "bkt", "delete")), 2);
  EXPECT_EQ(Sample(text, Series(fails, "bkt", "get")), 1);
  EXPECT_EQ(Sample(text, Series(fails, "bkt", "attributes")), 0);
  EXPECT_EQ(Sample(text, Series(fails, "bkt", "upload")), 1);
  EXPECT_EQ(Sample(text, Series(fails, "bkt", "delete")), 0);
  // Successful uploads: 2 observations in the histogram.
  EXPECT_EQ(Sample(text, Series("thanos_objstore_bucket_operation_duration_seconds_count", "bkt",
                                "upload")),
            2);
  EXPECT_GT(Sample(text, "thanos_objstore_bucket_last_successful_upload_time{bucket=\"bkt\"}"),
            1.6e9);
  EXPECT_EQ(mem.ObjectCount(), 0u);
}

TEST(OpenObjectStoreTest, OpensEachBackendAndRejectsBadConfig) {
  sightline::testing::TempDir tmp;
  StorageConfig fs_cfg;
  fs_cfg.filesystem_path = tmp.Join("objects");
  auto fs_store = OpenObjectStore(fs_cfg);
  ASSERT_TRUE(fs_store.ok()) << fs_store.status().ToString();
  ASSERT_TRUE((*fs_store)->Put("x/y", "z").ok());
  EXPECT_EQ(sightline::testing::ReadFile(tmp.Join("objects/x/y")), "z");
  // Registered in the default registry under the directory as bucket label.
  std::string text = telemetry::Registry::Default().Expose();
  EXPECT_NE(text.find("thanos_objstore_bucket_operations_total{bucket=\"" + fs_cfg.filesystem_path +
                      "\",operation=\"upload\"} 1"),
            std::string::npos)
      << text;

  StorageConfig mem_cfg;
  mem_cfg.backend = "memory";
  ASSERT_TRUE(OpenObjectStore(mem_cfg).ok());

  StorageConfig bad;
  bad.backend = "gcs";
  EXPECT_EQ(OpenObjectStore(bad).status().code(), StatusCode::kInvalidArgument);
  StorageConfig no_path;
  EXPECT_EQ(OpenObjectStore(no_path).status().code(), StatusCode::kInvalidArgument);
  StorageConfig no_bucket;
  no_bucket.backend = "s3";
  no_bucket.s3.access_key_id = "a";
  no_bucket.s3.secret_access_key = "b";
  EXPECT_EQ(OpenObjectStore(no_bucket).status().code(), StatusCode::kInvalidArgument);
  StorageConfig bad_sse;
  bad_sse.backend = "s3";
  bad_sse.s3.bucket = "b";
  bad_sse.s3.access_key_id = "a";
  bad_sse.s3.secret_access_key = "b";
  bad_sse.s3.sse = "aws:kms";
  EXPECT_EQ(OpenObjectStore(bad_sse).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sightline::io
