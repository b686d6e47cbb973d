// Relabeling: every action, as a table of (labels in, rules, labels out),
// with cases taken from the behaviour of Prometheus's model/relabel.
#include "metrics/scrape/relabel.h"

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <string>
#include <vector>

namespace sightline::metrics::relabel {
namespace {

using tsdb::Labels;

struct Case {
  std::string name;
  Labels in;
  std::vector<Config> rules;
  Labels out;  // empty: dropped
};

Config R(Action a) {
  Config c;
  c.action = a;
  return c;
}

std::vector<Case> Cases() {
  std::vector<Case> cs;
  {
    Config c = R(Action::kReplace);
    c.source_labels = {"a"};
    c.regex = "f(.*)";
    c.target_label = "d";
    c.replacement = "ch${1}-ch${1}";
    cs.push_back({"replace",
                  Labels::FromStrings({"a", "foo", "b", "bar", "c", "baz"}),
                  {c},
                  Labels::FromStrings({"a", "foo", "b", "bar", "c", "baz", "d", "choo-choo"})});
  }
  {
    Config c = R(Action::kReplace);
    c.source_labels = {"a", "b"};
    c.regex = "f(.*);(.*)r";
    c.target_label = "a";
    c.replacement = "b${1}${2}m";  // boobam
    Config d = R(Action::kReplace);
    d.source_labels = {"c", "a"};
    d.regex = "(b).*b(.*)ba(.*)";
    d.target_label = "d";
    d.replacement = "$1$2$2$3";
    cs.push_back({"replace with separator and chain",
                  Labels::FromStrings({"a", "foo", "b", "bar", "c", "baz"}),
                  {c, d},
                  Labels::FromStrings({"a", "boobam", "b", "bar", "c", "baz", "d", "boooom"})});
  }
  {
    Config c = R(Action::kReplace);
    c.source_labels = {"a"};
    c.regex = "o";  // anchored: does not match "foo"
    c.target_label = "x";
    c.replacement = "y";
    cs.push_back({"replace no match (anchored)",
                  Labels::FromStrings({"a", "foo"}),
                  {c},
                  Labels::FromStrings({"a", "foo"})});
  }
  {
    Config c = R(Action::kReplace);
    c.source_labels = {"a"};
    c.regex = "(.*)";
    c.target_label = "a";
    c.replacement = "$2";  // no such group: empty → delete
    cs.push_back({"replace to empty deletes",
                  Labels::FromStrings({"a", "foo", "b", "x"}),
                  {c},
                  Labels::FromStrings({"b", "x"})});
  }
  {
    Config c = R(Action::kReplace);
    c.source_labels = {"a"};
    c.regex = "some-([^-]+)-([^,]+)";
    c.target_label = "${1}";
    c.replacement = "${2}";
    cs.push_back({"replace target from group",
                  Labels::FromStrings({"a", "some-name-value"}),
                  {c},
                  Labels::FromStrings({"a", "some-name-value", "name", "value"})});
  }
  {
    Config c = R(Action::kReplace);
    c.source_labels = {"a"};
    c.regex = "some-([^-]+)-([^,]+)";
    c.target_label = "${3}";  // expands to "": invalid name, rule skipped
    c.replacement = "${1}";
    cs.push_back({"replace invalid target skipped",
                  Labels::FromStrings({"a", "some-name-value"}),
                  {c},
                  Labels::FromStrings({"a", "some-name-value"})});
  }
  {
    Config c = R(Action::kReplace);
    c.source_labels = {"a"};
    c.regex = "(?P<first>f)(?P<rest>.*)";
    c.target_label = "b";
    c.replacement = "$rest-$first-$$-$1x-${1}x";
    cs.push_back({"replace named groups, $$ and $1x",
                  Labels::FromStrings({"a", "foo"}),
                  {c},
                  Labels::FromStrings({"a", "foo", "b", "oo-f-$--fx"})});
  }
  {
    Config c = R(Action::kReplace);
    c.target_label = "new";
    c.replacement = "static";  // default regex matches the empty source
    cs.push_back({"replace static value",
                  Labels::FromStrings({"a", "x"}),
                  {c},
                  Labels::FromStrings({"a", "x", "new", "static"})});
  }
  {
    Config c = R(Action::kDrop);
    c.source_labels = {"a"};
    c.regex = "f.+";
    cs.push_back({"drop match", Labels::FromStrings({"a", "foo"}), {c}, Labels()});
    cs.push_back({"drop no match",
                  Labels::FromStrings({"a", "boo"}),
                  {c},
                  Labels::FromStrings({"a", "boo"})});
  }
  {
    Config c = R(Action::kKeep);
    c.source_labels = {"a"};
    c.regex = "f.+";
    cs.push_back(
        {"keep match", Labels::FromStrings({"a", "foo"}), {c}, Labels::FromStrings({"a", "foo"})});
    cs.push_back({"keep no match", Labels::FromStrings({"a", "boo"}), {c}, Labels()});
    cs.push_back({"keep missing label", Labels::FromStrings({"b", "foo"}), {c}, Labels()});
  }
  {
    Config c = R(Action::kKeepEqual);
    c.source_labels = {"__tmp_port"};
    c.target_label = "port";
    cs.push_back({"keepequal equal",
                  Labels::FromStrings({"__tmp_port", "80", "port", "80"}),
                  {c},
                  Labels::FromStrings({"__tmp_port", "80", "port", "80"})});
    cs.push_back({"keepequal different",
                  Labels::FromStrings({"__tmp_port", "80", "port", "81"}),
                  {c},
                  Labels()});
    Config d = c;
    d.action = Action::kDropEqual;
    cs.push_back({"dropequal equal",
                  Labels::FromStrings({"__tmp_port", "80", "port", "80"}),
                  {d},
                  Labels()});
    cs.push_back({"dropequal different",
                  Labels::FromStrings({"__tmp_port", "80", "port", "81"}),
                  {d},
                  Labels::FromStrings({"__tmp_port", "80", "port", "81"})});
  }
  {
    Config c = R(Action::kHashMod);
    c.source_labels = {"c"};
    c.target_label = "d";
    c.modulus = 1000;
    // Prometheus's own test case: md5("baz") last 8 bytes % 1000 = 976.
    cs.push_back({"hashmod",
                  Labels::FromStrings({"a", "foo", "b", "bar", "c", "baz"}),
                  {c},
                  Labels::FromStrings({"a", "foo", "b", "bar", "c", "baz", "d", "976"})});
  }
  {
    Config c = R(Action::kLabelMap);
    c.regex = "__meta_(my.*)";
    c.replacement = "$1";
    cs.push_back({"labelmap",
                  Labels::FromStrings(
                      {"__meta_my_bar", "aaa", "__meta_my_baz", "bbb", "__meta_other", "ccc"}),
                  {c},
                  Labels::FromStrings({"__meta_my_bar", "aaa", "__meta_my_baz", "bbb",
                                       "__meta_other", "ccc", "my_bar", "aaa", "my_baz", "bbb"})});
  }
  {
    Config c = R(Action::kLabelDrop);
    c.regex = "__meta.*|b";
    cs.push_back({"labeldrop",
                  Labels::FromStrings({"__meta_x", "1", "a", "2", "b", "3"}),
                  {c},
                  Labels::FromStrings({"a", "2"})});
    Config k = R(Action::kLabelKeep);
    k.regex = "__name__|a";
    cs.push_back({"labelkeep",
                  Labels::FromStrings({"__name__", "up", "__meta_x", "1", "a", "2", "b", "3"}),
                  {k},
                  Labels::FromStrings({"__name__", "up", "a", "2"})});
  }
  {
    Config l = R(Action::kLowercase);
    l.source_labels = {"foo"};
    l.target_label = "foo_lower";
    Config u = R(Action::kUppercase);
    u.source_labels = {"foo", "bar"};
    u.separator = "-";
    u.target_label = "foo_upper";
    cs.push_back({"lowercase and uppercase",
                  Labels::FromStrings({"foo", "BaR", "bar", "x"}),
                  {l, u},
                  Labels::FromStrings(
                      {"foo", "BaR", "bar", "x", "foo_lower", "bar", "foo_upper", "BAR-X"})});
  }
  return cs;
}

TEST(RelabelTest, Table) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    auto rules = CompileAll(c.rules);
    ASSERT_TRUE(rules.ok()) << rules.status().ToString();
    bool kept = false;
    Labels out = Process(*rules, c.in, &kept);
    if (c.out.empty()) {
      EXPECT_FALSE(kept);
    } else {
      EXPECT_TRUE(kept);
      EXPECT_EQ(out.ToString(), c.out.ToString());
    }
  }
}

TEST(RelabelTest, ValidationMessages) {
  auto msg = [](Config c) {
    Status s = Validate(c);
    return s.ok() ? std::string("ok") : s.message();
  };
  Config c = R(Action::kReplace);
  EXPECT_EQ(msg(c), "relabel configuration for replace action requires 'target_label' value");
  c.target_label = "1bad";
  EXPECT_EQ(msg(c), "\"1bad\" is invalid 'target_label' for replace action");
  c.target_label = "${1}_x";
  EXPECT_EQ(msg(c), "ok");
  Config h = R(Action::kHashMod);
  h.target_label = "x";
  EXPECT_EQ(msg(h), "relabel configuration for hashmod requires non-zero modulus");
  Config ld = R(Action::kLabelDrop);
  ld.source_labels = {"a"};
  EXPECT_EQ(msg(ld), "labeldrop action requires only 'regex', and no other fields");
  Config ke = R(Action::kKeepEqual);
  ke.target_label = "a";
  ke.regex = "x";
  EXPECT_EQ(msg(ke),
            "keepequal action requires only 'source_labels' and `target_label`, and no other "
            "fields");
  EXPECT_EQ(ParseAction("LabelMap").value(), Action::kLabelMap);
  EXPECT_EQ(ParseAction("nope").status().message(), "unknown relabel action \"nope\"");
  Config bad_re = R(Action::kKeep);
  bad_re.regex = "(";
  EXPECT_FALSE(Rule::Compile(bad_re).ok());
}

TEST(RelabelTest, ExpandTemplateLikeGo) {
  re2::RE2 re("^(?:(?P<a>x)(y)?)$");
  std::vector<std::string_view> groups = {"x", "x", ""};
  EXPECT_EQ(ExpandTemplate("[$1][${2}][$a][$0][$$][$][${}][$10]", re, groups),
            "[x][][x][x][$][$][${}][]");
}

}  // namespace
}  // namespace sightline::metrics::relabel
