#include "app/module_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sightline::app {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ModuleManagerTest : public ::testing::Test {
 protected:
  void Add(std::string name, std::vector<std::string> deps, bool role, bool fail = false) {
    mm_.Register({.name = name,
                  .deps = deps,
                  .is_role = role,
                  .start =
                      [this, name, fail]() -> Status {
                        if (fail) return InternalError("boom");
                        log_.push_back("start " + name);
                        return Status::Ok();
                      },
                  .stop = [this, name] { log_.push_back("stop " + name); }});
  }
  ModuleManager mm_;
  std::vector<std::string> log_;
};

TEST_F(ModuleManagerTest, DependencyOrderAndReverseStop) {
  Add("server", {}, false);
  Add("store", {"server"}, false);
  Add("ingester", {"server", "store"}, true);
  Add("querier", {"store"}, true);
  auto order = mm_.Resolve({"querier", "ingester"});
  ASSERT_TRUE(order.ok()) << order.status().ToString();
  EXPECT_THAT(*order, ElementsAre("server", "store", "querier", "ingester"));
  ASSERT_TRUE(mm_.StartAll(*order).ok());
  mm_.StopAll();
  EXPECT_THAT(log_, ElementsAre("start server", "start store", "start querier", "start ingester",
                                "stop ingester", "stop querier", "stop store", "stop server"));
  mm_.StopAll();  // idempotent
  EXPECT_EQ(log_.size(), 8u);
}

TEST_F(ModuleManagerTest, AllAndGroups) {
  Add("server", {}, false);
  Add("distributor", {"server"}, true);
  Add("ingester", {"server"}, true);
  Add("querier", {"server"}, true);
  mm_.RegisterGroup("write", {"distributor", "ingester"});
  auto all = mm_.Resolve({"all"});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 4u);
  auto write = mm_.Resolve({"write"});
  ASSERT_TRUE(write.ok());
  EXPECT_THAT(*write, ElementsAre("server", "distributor", "ingester"));
}

TEST_F(ModuleManagerTest, UnknownTargetIsAnError) {
  Add("server", {}, false);
  Add("ingester", {"server"}, true);
  auto r = mm_.Resolve({"ingestr"});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("unknown target \"ingestr\""));
  EXPECT_THAT(r.status().message(), HasSubstr("ingester"));
  // Internal modules cannot be named as targets.
  EXPECT_FALSE(mm_.Resolve({"server"}).ok());
}

TEST_F(ModuleManagerTest, CycleIsDetected) {
  Add("a", {"b"}, true);
  Add("b", {"a"}, false);
  auto r = mm_.Resolve({"a"});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("cycle"));
}

TEST_F(ModuleManagerTest, FailedStartStopsWhatStarted) {
  Add("server", {}, false);
  Add("store", {"server"}, false, /*fail=*/true);
  Add("ingester", {"store"}, true);
  auto order = mm_.Resolve({"ingester"});
  ASSERT_TRUE(order.ok());
  Status s = mm_.StartAll(*order);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("starting store: boom"));
  EXPECT_THAT(log_, ElementsAre("start server", "stop server"));
}

}  // namespace
}  // namespace sightline::app
