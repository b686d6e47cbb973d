// The Env contract: POSIX, MemEnv and FaultEnv (over MemEnv, without faults)
// behave the same on one suite; then FaultEnv's crash model and injection.
#include "io/env.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "harness/harness.h"
#include "io/fault_env.h"
#include "io/mem_env.h"

namespace sightline::io {
namespace {

std::string Pattern(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

Status WriteAll(Env* env, const std::string& path, std::string_view data, bool sync = true) {
  SL_ASSIGN_OR_RETURN(auto f, env->NewWritableFile(path));
  SL_RETURN_IF_ERROR(f->Append(data));
  if (sync) SL_RETURN_IF_ERROR(f->Sync());
  return f->Close();
}

// One Env under test, rooted in a fresh directory.
struct EnvUnderTest {
  std::unique_ptr<testing::TempDir> tmp;
  std::unique_ptr<MemEnv> mem;
  std::unique_ptr<FaultEnv> fault;
  Env* env = nullptr;
  std::string root;
};

EnvUnderTest Make(const std::string& kind) {
  EnvUnderTest t;
  if (kind == "posix") {
    t.tmp = std::make_unique<testing::TempDir>();
    t.env = Env::Default();
    t.root = t.tmp->Join("root");
  } else {
    t.mem = std::make_unique<MemEnv>();
    t.env = t.mem.get();
    if (kind == "fault") {
      t.fault = std::make_unique<FaultEnv>(t.mem.get());
      t.env = t.fault.get();
    }
    t.root = "/data/root";
  }
  EXPECT_TRUE(t.env->CreateDirs(t.root).ok());
  return t;
}

class EnvContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { t_ = Make(GetParam()); }
  Env* env() { return t_.env; }
  std::string P(const std::string& name) { return JoinPath(t_.root, name); }
  EnvUnderTest t_;
};

TEST_P(EnvContractTest, WriteThenReadBack) {
  // Crosses the POSIX write buffer (64 KiB) both ways.
  std::string small = Pattern(100, 1), big = Pattern(200 * 1024, 2);
  auto f = env()->NewWritableFile(P("f"));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE((*f)->Append(small).ok());
  ASSERT_TRUE((*f)->Append(big).ok());
  ASSERT_TRUE((*f)->Append("").ok());
  EXPECT_EQ((*f)->Size(), small.size() + big.size());
  ASSERT_TRUE((*f)->Flush().ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE((*f)->Close().ok());
  EXPECT_EQ((*f)->Append("x").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*f)->Close().code(), StatusCode::kFailedPrecondition);

  auto content = env()->ReadFile(P("f"));
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, small + big);
  auto size = env()->GetFileSize(P("f"));
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, small.size() + big.size());
  EXPECT_TRUE(env()->FileExists(P("f")));
  EXPECT_FALSE(env()->FileExists(P("g")));
}

TEST_P(EnvContractTest, AppendVWritesThePiecesInOrder) {
  // Small pieces (buffered), large ones (POSIX: writev), more pieces than
  // IOV_MAX (1024), empty ones, mixed with plain Appends.
  std::string expected;
  auto f = env()->NewWritableFile(P("v"));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  std::vector<std::string> store;
  for (int round = 0; round < 4; ++round) {
    store.clear();
    const size_t count = round == 3 ? 3000 : 5 + round;
    for (size_t i = 0; i < count; ++i) {
      size_t n = round == 0 ? 10 : round == 1 ? (i % 3 == 0 ? 0 : 40000) : round == 2 ? 300000 : 77;
      store.push_back(Pattern(n, static_cast<uint32_t>(round * 7 + i)));
    }
    std::vector<std::string_view> pieces(store.begin(), store.end());
    ASSERT_TRUE((*f)->AppendV(pieces).ok());
    for (const auto& s : store) expected += s;
    ASSERT_TRUE((*f)->Append("|").ok());
    expected += "|";
    EXPECT_EQ((*f)->Size(), expected.size());
  }
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE((*f)->Close().ok());
  auto content = env()->ReadFile(P("v"));
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(content->size(), expected.size());
  EXPECT_TRUE(*content == expected);
}

TEST_P(EnvContractTest, WritableTruncatesAppendableAppends) {
  ASSERT_TRUE(WriteAll(env(), P("f"), "hello").ok());
  ASSERT_TRUE(WriteAll(env(), P("f"), "abc").ok());
  EXPECT_EQ(*env()->ReadFile(P("f")), "abc");

  auto a = env()->NewAppendableFile(P("f"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->Size(), 3u);
  ASSERT_TRUE((*a)->Append("def").ok());
  EXPECT_EQ((*a)->Size(), 6u);
  ASSERT_TRUE((*a)->Close().ok());
  EXPECT_EQ(*env()->ReadFile(P("f")), "abcdef");

  auto b = env()->NewAppendableFile(P("new"));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)->Size(), 0u);
  ASSERT_TRUE((*b)->Append("x").ok());
  ASSERT_TRUE((*b)->Close().ok());
  EXPECT_EQ(*env()->ReadFile(P("new")), "x");
}

TEST_P(EnvContractTest, RandomAccessSmallAndLarge) {
  for (size_t n : {size_t{1000}, size_t{kMmapThreshold + 12345}}) {
    std::string data = Pattern(n, static_cast<uint32_t>(n));
    ASSERT_TRUE(WriteAll(env(), P("r"), data).ok());
    auto f = env()->NewRandomAccessFile(P("r"));
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ((*f)->Size(), n);
    std::string scratch;
    for (uint64_t off : {uint64_t{0}, uint64_t{1}, uint64_t{n / 2}, uint64_t{n - 10}}) {
      auto r = (*f)->Read(off, 100, &scratch);
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(*r, std::string_view(data).substr(off, 100)) << off;
    }
    auto at_end = (*f)->Read(n, 10, &scratch);
    ASSERT_TRUE(at_end.ok());
    EXPECT_TRUE(at_end->empty());
    EXPECT_EQ((*f)->Read(n + 1, 10, &scratch).status().code(), StatusCode::kOutOfRange);
  }
}

TEST_P(EnvContractTest, MissingThings) {
  EXPECT_EQ(env()->NewRandomAccessFile(P("nope")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(env()->ReadFile(P("nope")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(env()->GetFileSize(P("nope")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(env()->RemoveFile(P("nope")).code(), StatusCode::kNotFound);
  EXPECT_EQ(env()->NewWritableFile(P("nodir/f")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(env()->GetChildren(P("nodir")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(env()->Rename(P("nope"), P("x")).code(), StatusCode::kNotFound);
  EXPECT_EQ(env()->Truncate(P("nope"), 0).code(), StatusCode::kNotFound);
  EXPECT_EQ(env()->SyncDir(P("nodir")).code(), StatusCode::kNotFound);
  EXPECT_TRUE(env()->RemoveAll(P("nodir")).ok());
}

TEST_P(EnvContractTest, DirectoriesAndChildren) {
  ASSERT_TRUE(env()->CreateDirs(P("a/b/c")).ok());
  ASSERT_TRUE(env()->CreateDirs(P("a/b/c")).ok());  // idempotent
  ASSERT_TRUE(WriteAll(env(), P("a/z"), "1").ok());
  ASSERT_TRUE(WriteAll(env(), P("a/m"), "2").ok());
  ASSERT_TRUE(WriteAll(env(), P("a/b/c/deep"), "3").ok());
  auto children = env()->GetChildren(P("a"));
  ASSERT_TRUE(children.ok());
  EXPECT_EQ(*children, (std::vector<std::string>{"b", "m", "z"}));
  EXPECT_EQ(*env()->GetChildren(P("a/b/c")), std::vector<std::string>{"deep"});
  EXPECT_EQ(env()->CreateDirs(P("a/z")).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(env()->RemoveFile(P("a/b")).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(env()->SyncDir(P("a")).ok());

  ASSERT_TRUE(env()->RemoveAll(P("a/b")).ok());
  EXPECT_FALSE(env()->FileExists(P("a/b/c/deep")));
  EXPECT_FALSE(env()->FileExists(P("a/b")));
  EXPECT_EQ(*env()->GetChildren(P("a")), (std::vector<std::string>{"m", "z"}));
  ASSERT_TRUE(env()->RemoveFile(P("a/m")).ok());
  EXPECT_EQ(*env()->GetChildren(P("a")), std::vector<std::string>{"z"});
  ASSERT_TRUE(env()->RemoveAll(P("a/z")).ok());  // a file
  EXPECT_TRUE(env()->GetChildren(P("a"))->empty());
}

TEST_P(EnvContractTest, RenameFilesAndDirectories) {
  ASSERT_TRUE(WriteAll(env(), P("x"), "new").ok());
  ASSERT_TRUE(WriteAll(env(), P("y"), "old").ok());
  ASSERT_TRUE(env()->Rename(P("x"), P("y")).ok());  // replaces
  EXPECT_FALSE(env()->FileExists(P("x")));
  EXPECT_EQ(*env()->ReadFile(P("y")), "new");

  ASSERT_TRUE(env()->CreateDirs(P("d1/sub")).ok());
  ASSERT_TRUE(WriteAll(env(), P("d1/sub/f"), "f").ok());
  ASSERT_TRUE(env()->CreateDirs(P("d2")).ok());  // empty: may be replaced
  ASSERT_TRUE(env()->Rename(P("d1"), P("d2")).ok());
  EXPECT_FALSE(env()->FileExists(P("d1")));
  EXPECT_EQ(*env()->ReadFile(P("d2/sub/f")), "f");

  ASSERT_TRUE(env()->CreateDirs(P("d3")).ok());
  EXPECT_EQ(env()->Rename(P("d3"), P("d2")).code(), StatusCode::kFailedPrecondition);  // not empty
  EXPECT_EQ(env()->Rename(P("y"), P("d3")).code(), StatusCode::kFailedPrecondition);   // a dir
}

TEST_P(EnvContractTest, TruncateShrinksAndExtends) {
  ASSERT_TRUE(WriteAll(env(), P("t"), "0123456789").ok());
  ASSERT_TRUE(env()->Truncate(P("t"), 4).ok());
  EXPECT_EQ(*env()->ReadFile(P("t")), "0123");
  ASSERT_TRUE(env()->Truncate(P("t"), 6).ok());
  EXPECT_EQ(*env()->ReadFile(P("t")), std::string("0123\0\0", 6));
}

TEST_P(EnvContractTest, OpenHandleOutlivesItsName) {
  ASSERT_TRUE(WriteAll(env(), P("u"), "still here").ok());
  auto f = env()->NewRandomAccessFile(P("u"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(env()->RemoveFile(P("u")).ok());
  std::string scratch;
  auto r = (*f)->Read(0, 100, &scratch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "still here");
}

TEST_P(EnvContractTest, WriteFileAtomicReplacesWithoutLeftovers) {
  ASSERT_TRUE(env()->WriteFileAtomic(P("meta.json"), "v1").ok());
  ASSERT_TRUE(env()->WriteFileAtomic(P("meta.json"), "v2-longer").ok());
  EXPECT_EQ(*env()->ReadFile(P("meta.json")), "v2-longer");
  EXPECT_EQ(*env()->GetChildren(t_.root), std::vector<std::string>{"meta.json"});
  EXPECT_EQ(env()->WriteFileAtomic(P("nodir/meta.json"), "x").code(), StatusCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Envs, EnvContractTest, ::testing::Values("posix", "mem", "fault"),
                         [](const auto& info) { return info.param; });

// ---------------------------------------------------------------------------
// FaultEnv: the crash model.

class FaultEnvTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "posix") {
      tmp_ = std::make_unique<testing::TempDir>();
      base_ = Env::Default();
      root_ = tmp_->Join("root");
    } else {
      mem_ = std::make_unique<MemEnv>();
      base_ = mem_.get();
      root_ = "/root";
    }
    ASSERT_TRUE(base_->CreateDirs(root_).ok());
    env_ = std::make_unique<FaultEnv>(base_);
  }
  std::string P(const std::string& name) { return JoinPath(root_, name); }
  void Crash(FaultEnv::CrashOptions o = {}) {
    ASSERT_TRUE(env_->SimulateCrash(o).ok());
    env_->Restart();
  }

  std::unique_ptr<testing::TempDir> tmp_;
  std::unique_ptr<MemEnv> mem_;
  Env* base_ = nullptr;
  std::string root_;
  std::unique_ptr<FaultEnv> env_;
};

TEST_P(FaultEnvTest, UnsyncedAppendsAreLost) {
  auto f = env_->NewWritableFile(P("log"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(env_->SyncDir(root_).ok());
  ASSERT_TRUE((*f)->Append("synced;").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE((*f)->Append("unsynced").ok());
  ASSERT_TRUE((*f)->Flush().ok());
  EXPECT_EQ(env_->UnsyncedBytes(), 8u);
  Crash();
  EXPECT_EQ(*env_->ReadFile(P("log")), "synced;");
  // The dead process's handle can no longer write.
  EXPECT_FALSE((*f)->Append("zombie").ok());
  EXPECT_EQ(*env_->ReadFile(P("log")), "synced;");
}

TEST_P(FaultEnvTest, TornTailKeepsAPrefix) {
  std::string tail = Pattern(1000, 7);
  std::set<size_t> sizes;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    auto f = env_->NewWritableFile(P("log"));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(env_->SyncDir(root_).ok());
    ASSERT_TRUE((*f)->Append("head").ok());
    ASSERT_TRUE((*f)->Sync().ok());
    ASSERT_TRUE((*f)->Append(tail).ok());
    Crash({.torn_tail = true, .seed = seed});
    std::string got = *env_->ReadFile(P("log"));
    ASSERT_GE(got.size(), 4u);
    EXPECT_EQ(got, ("head" + tail).substr(0, got.size()));
    sizes.insert(got.size());
  }
  EXPECT_GT(sizes.size(), 5u);  // really random
}

TEST_P(FaultEnvTest, NewFileNeedsDirSync) {
  ASSERT_TRUE(WriteAll(env_.get(), P("a"), "synced data, unsynced entry").ok());
  ASSERT_TRUE(WriteAll(env_.get(), P("b"), "both synced").ok());
  ASSERT_TRUE(env_->SyncDir(root_).ok());
  ASSERT_TRUE(WriteAll(env_.get(), P("c"), "after the dir sync").ok());
  ASSERT_TRUE(env_->CreateDirs(P("newdir/sub")).ok());
  Crash();
  EXPECT_TRUE(env_->FileExists(P("a")));
  EXPECT_EQ(*env_->ReadFile(P("b")), "both synced");
  EXPECT_FALSE(env_->FileExists(P("c")));
  EXPECT_FALSE(env_->FileExists(P("newdir")));
}

TEST_P(FaultEnvTest, UnsyncedRenameAndRemoveAreUndone) {
  ASSERT_TRUE(WriteAll(env_.get(), P("old"), "old content").ok());
  ASSERT_TRUE(WriteAll(env_.get(), P("tmp"), "new content").ok());
  ASSERT_TRUE(WriteAll(env_.get(), P("victim"), "victim").ok());
  ASSERT_TRUE(env_->CreateDirs(P("dir.tmp")).ok());
  ASSERT_TRUE(WriteAll(env_.get(), P("dir.tmp/f"), "in dir").ok());
  ASSERT_TRUE(env_->SyncDir(P("dir.tmp")).ok());
  ASSERT_TRUE(env_->SyncDir(root_).ok());

  ASSERT_TRUE(env_->Rename(P("tmp"), P("old")).ok());
  ASSERT_TRUE(env_->RemoveFile(P("victim")).ok());
  ASSERT_TRUE(env_->Rename(P("dir.tmp"), P("dir")).ok());
  EXPECT_EQ(*env_->ReadFile(P("old")), "new content");
  Crash();
  EXPECT_EQ(*env_->ReadFile(P("old")), "old content");
  EXPECT_EQ(*env_->ReadFile(P("tmp")), "new content");
  EXPECT_EQ(*env_->ReadFile(P("victim")), "victim");
  EXPECT_TRUE(env_->FileExists(P("dir.tmp/f")));
  EXPECT_FALSE(env_->FileExists(P("dir")));

  // The same, made durable.
  ASSERT_TRUE(env_->Rename(P("tmp"), P("old")).ok());
  ASSERT_TRUE(env_->RemoveFile(P("victim")).ok());
  ASSERT_TRUE(env_->Rename(P("dir.tmp"), P("dir")).ok());
  ASSERT_TRUE(env_->SyncDir(root_).ok());
  Crash();
  EXPECT_EQ(*env_->ReadFile(P("old")), "new content");
  EXPECT_FALSE(env_->FileExists(P("tmp")));
  EXPECT_FALSE(env_->FileExists(P("victim")));
  EXPECT_EQ(*env_->ReadFile(P("dir/f")), "in dir");
}

TEST_P(FaultEnvTest, UnsyncedTruncateIsUndone) {
  ASSERT_TRUE(WriteAll(env_.get(), P("t"), "0123456789").ok());
  ASSERT_TRUE(env_->SyncDir(root_).ok());
  ASSERT_TRUE(env_->Truncate(P("t"), 3).ok());
  Crash();
  EXPECT_EQ(*env_->ReadFile(P("t")), "0123456789");
  ASSERT_TRUE(env_->Truncate(P("t"), 3).ok());
  auto f = env_->NewAppendableFile(P("t"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Sync().ok());
  Crash();
  EXPECT_EQ(*env_->ReadFile(P("t")), "012");
}

TEST_P(FaultEnvTest, DownUntilRestart) {
  ASSERT_TRUE(env_->SimulateCrash().ok());
  EXPECT_EQ(env_->NewWritableFile(P("x")).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(env_->GetChildren(root_).status().code(), StatusCode::kUnavailable);
  env_->Restart();
  EXPECT_TRUE(env_->NewWritableFile(P("x")).ok());
}

TEST_P(FaultEnvTest, InjectedWriteAndSyncFailures) {
  auto f = env_->NewWritableFile(P("f"));
  ASSERT_TRUE(f.ok());
  env_->FailNext(FaultEnv::Op::kAppend, 2);
  EXPECT_EQ((*f)->Append("a").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ((*f)->Append("b").code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE((*f)->Append("c").ok());
  env_->FailNext(FaultEnv::Op::kSync, 1, InternalError("EIO"));
  EXPECT_EQ((*f)->Sync().code(), StatusCode::kInternal);
  EXPECT_TRUE((*f)->Sync().ok());
  EXPECT_EQ(env_->sync_count(), 1u);
  ASSERT_TRUE((*f)->Close().ok());
  EXPECT_EQ(*env_->ReadFile(P("f")), "c");

  // A short write before the error.
  env_->SetPartialWrites(true);
  auto g = env_->NewWritableFile(P("g"));
  ASSERT_TRUE(g.ok());
  env_->FailNext(FaultEnv::Op::kAppend, 1);
  std::string data = Pattern(1000, 3);
  EXPECT_FALSE((*g)->Append(data).ok());
  std::string got = *env_->ReadFile(P("g"));
  EXPECT_LT(got.size(), data.size());
  EXPECT_EQ(got, data.substr(0, got.size()));

  env_->FailNext(FaultEnv::Op::kCreate, 1);
  EXPECT_FALSE(env_->NewWritableFile(P("h")).ok());
  EXPECT_FALSE(env_->FileExists(P("h")));
}

TEST_P(FaultEnvTest, WriteFileAtomicIsAllOrNothing) {
  ASSERT_TRUE(env_->WriteFileAtomic(P("meta"), "version one").ok());
  // A failure at each step leaves the old content and no temporary file.
  for (auto op :
       {FaultEnv::Op::kCreate, FaultEnv::Op::kAppend, FaultEnv::Op::kSync, FaultEnv::Op::kRename}) {
    env_->FailNext(op, 1);
    EXPECT_FALSE(env_->WriteFileAtomic(P("meta"), "version two").ok());
    EXPECT_EQ(*env_->ReadFile(P("meta")), "version one");
    EXPECT_EQ(*env_->GetChildren(root_), std::vector<std::string>{"meta"});
  }
  // Durable once it returned OK.
  ASSERT_TRUE(env_->WriteFileAtomic(P("meta"), "version three").ok());
  Crash();
  EXPECT_EQ(*env_->ReadFile(P("meta")), "version three");
  EXPECT_EQ(*env_->GetChildren(root_), std::vector<std::string>{"meta"});
  // A crash between the rename and the directory sync: old or new, never a mix.
  env_->FailNext(FaultEnv::Op::kSync, 2);  // the file sync fails first: old content
  EXPECT_FALSE(env_->WriteFileAtomic(P("meta"), "version four").ok());
  Crash({.torn_tail = true});
  EXPECT_EQ(*env_->ReadFile(P("meta")), "version three");
}

INSTANTIATE_TEST_SUITE_P(Bases, FaultEnvTest, ::testing::Values("posix", "mem"),
                         [](const auto& info) { return info.param; });

TEST(PathTest, Helpers) {
  EXPECT_EQ(DirName("a/b/c"), "a/b");
  EXPECT_EQ(DirName("c"), ".");
  EXPECT_EQ(DirName("/c"), "/");
  EXPECT_EQ(DirName("/a/b/"), "/a");
  EXPECT_EQ(BaseName("a/b/c"), "c");
  EXPECT_EQ(BaseName("/a/b/"), "b");
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
  EXPECT_EQ(NormalizePath("a//b/"), "a/b");
  EXPECT_EQ(NormalizePath(""), ".");
}

}  // namespace
}  // namespace sightline::io
