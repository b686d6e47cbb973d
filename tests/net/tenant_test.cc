#include "net/tenant.h"

#include <gtest/gtest.h>

#include <string>

namespace sightline::net {
namespace {

TEST(TenantTest, WithoutMultitenancyEverythingIsAnonymous) {
  EXPECT_EQ(*ResolveTenant(std::nullopt, false), "anonymous");
  EXPECT_EQ(*ResolveTenant("team-a", false), "anonymous");
  EXPECT_EQ(*ResolveTenant("../../etc", false), "anonymous");  // ignored, not validated
}

TEST(TenantTest, MissingOrEmptyHeaderIsUnauthenticated) {
  auto missing = ResolveTenant(std::nullopt, true);
  EXPECT_EQ(missing.status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(missing.status().message(), "no org id");
  EXPECT_EQ(ResolveTenant("", true).status().code(), StatusCode::kUnauthenticated);
}

TEST(TenantTest, ValidIds) {
  EXPECT_EQ(*ResolveTenant("team-a", true), "team-a");
  EXPECT_EQ(*ResolveTenant("aZ9!-_.*'()", true), "aZ9!-_.*'()");
  EXPECT_EQ(*ResolveTenant("...", true), "...");
  EXPECT_TRUE(ResolveTenant(std::string(150, 'a'), true).ok());
}

TEST(TenantTest, InvalidIds) {
  for (std::string bad :
       {std::string(151, 'a'), std::string("."), std::string(".."), std::string("a/b"),
        std::string("a b"), std::string("a|b"), std::string("a\\b"), std::string("a:b"),
        std::string("caf\xc3\xa9"), std::string("a\nb"), std::string("a%2Fb")}) {
    auto r = ResolveTenant(bad, true);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace sightline::net
