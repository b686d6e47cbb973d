#include "metrics/limits/limits.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "config/config.h"
#include "config/overrides.h"
#include "telemetry/metrics.h"

namespace sightline::metrics::limits {

namespace {

std::string Truncated(std::string_view s, size_t n = 200) { return std::string(s.substr(0, n)); }

Status SetKey(TenantLimits* l, const std::string& key, const std::string& value) {
  char* end = nullptr;
  double v = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || v < 0) {
    return InvalidArgumentError(fmt::format("{}: \"{}\" is not a non-negative number", key, value));
  }
  if (key == "ingestion_rate") {
    l->ingestion_rate = v;
  } else if (key == "ingestion_burst_size") {
    l->ingestion_burst_size = v;
  } else if (key == "max_global_series_per_user") {
    l->max_global_series_per_user = static_cast<uint64_t>(v);
  } else if (key == "max_label_names_per_series") {
    l->max_label_names_per_series = static_cast<uint32_t>(v);
  } else if (key == "max_label_name_length") {
    l->max_label_name_length = static_cast<uint32_t>(v);
  } else if (key == "max_label_value_length") {
    l->max_label_value_length = static_cast<uint32_t>(v);
  } else {
    return InvalidArgumentError(fmt::format(
        "unknown limit \"{}\" (ingestion_rate, ingestion_burst_size, max_global_series_per_user, "
        "max_label_names_per_series, max_label_name_length, max_label_value_length)",
        key));
  }
  return Status::Ok();
}

}  // namespace

namespace {

TenantLimits LimitsOf(const config::MetricsConfig& m) {
  TenantLimits l;
  l.ingestion_rate = m.ingestion_rate;
  l.ingestion_burst_size = m.ingestion_burst_size;
  l.max_global_series_per_user = static_cast<uint64_t>(m.max_global_series_per_user);
  l.max_label_names_per_series = static_cast<uint32_t>(m.max_label_names_per_series);
  l.max_label_name_length = static_cast<uint32_t>(m.max_label_name_length);
  l.max_label_value_length = static_cast<uint32_t>(m.max_label_value_length);
  return l;
}

}  // namespace

Result<Overrides> Overrides::FromConfig(const config::Config& cfg) {
  // The shared per-tenant overrides first (overrides.<tenant>.metrics.limits),
  // then the older metrics.limits.overrides.<tenant> form on top.
  SL_ASSIGN_OR_RETURN(auto shared, config::TenantOverrides::FromConfig(cfg));
  Overrides base(LimitsOf(cfg.metrics));
  for (const std::string& tenant : shared->Tenants()) {
    base.Set(tenant, LimitsOf(shared->For(tenant).metrics));
  }
  return Parse(std::move(base), cfg.file_text, cfg.config_file);
}

Result<Overrides> Overrides::Parse(TenantLimits defaults, const std::string& yaml_text,
                                   const std::string& file_name) {
  return Parse(Overrides(defaults), yaml_text, file_name);
}

Result<Overrides> Overrides::Parse(Overrides base, const std::string& yaml_text,
                                   const std::string& file_name) {
  Overrides out = std::move(base);
  if (yaml_text.empty()) return out;
  try {
    YAML::Node root = YAML::Load(yaml_text);
    if (!root.IsMap()) return out;
    YAML::Node m = root["metrics"];
    if (!m || !m.IsMap()) return out;
    YAML::Node l = m["limits"];
    if (!l || !l.IsMap()) return out;
    YAML::Node o = l["overrides"];
    if (!o || o.IsNull()) return out;
    auto where = [&](const YAML::Node& n) {
      return fmt::format("{}:{}", file_name, n.Mark().line + 1);
    };
    if (!o.IsMap()) {
      return InvalidArgumentError(where(o) +
                                  ": metrics.limits.overrides must map tenants to limits");
    }
    for (auto it = o.begin(); it != o.end(); ++it) {
      std::string tenant = it->first.as<std::string>("");
      YAML::Node tl = it->second;
      TenantLimits t = out.For(tenant);
      if (!tl.IsNull()) {
        if (!tl.IsMap()) {
          return InvalidArgumentError(where(tl) + ": the limits of tenant \"" + tenant +
                                      "\" must be a mapping");
        }
        for (auto kv = tl.begin(); kv != tl.end(); ++kv) {
          YAML::Node v = kv->second;
          if (!v.IsScalar()) {
            return InvalidArgumentError(where(v) + ": limits must be numbers");
          }
          Status s = SetKey(&t, kv->first.as<std::string>(""), v.Scalar());
          if (!s.ok()) {
            return InvalidArgumentError(where(kv->first) + ": metrics.limits.overrides." + tenant +
                                        "." + s.message());
          }
        }
      }
      out.per_tenant_[tenant] = t;
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(fmt::format("{}:{}: {}", file_name, e.mark.line + 1, e.msg));
  }
  return out;
}

const TenantLimits& Overrides::For(std::string_view tenant) const {
  auto it = per_tenant_.find(tenant);
  return it == per_tenant_.end() ? defaults_ : it->second;
}

std::string_view ReasonLabel(LimitReason r) {
  switch (r) {
    case LimitReason::kRateLimited:
      return reason::kRateLimited;
    case LimitReason::kPerUserSeriesLimit:
      return reason::kPerUserSeriesLimit;
    case LimitReason::kMaxLabelNamesPerSeries:
      return reason::kMaxLabelNamesPerSeries;
    case LimitReason::kLabelNameTooLong:
      return reason::kLabelNameTooLong;
    case LimitReason::kLabelValueTooLong:
      return reason::kLabelValueTooLong;
  }
  return "unknown";
}

Status ValidateSeriesLabels(const TenantLimits& l, const Labels& labels, LimitReason* why) {
  if (l.max_label_names_per_series > 0 && labels.size() > l.max_label_names_per_series) {
    *why = LimitReason::kMaxLabelNamesPerSeries;
    return InvalidArgumentError(fmt::format(
        "received a series whose number of labels exceeds the limit (actual: {}, limit: {}) "
        "series: '{}' (limit metrics.limits.max_label_names_per_series)",
        labels.size(), l.max_label_names_per_series, Truncated(labels.ToString())));
  }
  for (const Label& lb : labels) {
    if (l.max_label_name_length > 0 && lb.name.size() > l.max_label_name_length) {
      *why = LimitReason::kLabelNameTooLong;
      return InvalidArgumentError(fmt::format(
          "received a series whose label name length exceeds the limit, label: '{}' series: '{}' "
          "(limit metrics.limits.max_label_name_length = {})",
          Truncated(lb.name), Truncated(labels.ToString()), l.max_label_name_length));
    }
    if (l.max_label_value_length > 0 && lb.value.size() > l.max_label_value_length) {
      *why = LimitReason::kLabelValueTooLong;
      return InvalidArgumentError(fmt::format(
          "received a series whose label value length exceeds the limit, value: '{}' (truncated) "
          "series: '{}' (limit metrics.limits.max_label_value_length = {})",
          Truncated(lb.value), Truncated(labels.ToString()), l.max_label_value_length));
    }
  }
  return Status::Ok();
}

// The appender: checks labels on first sight, translates the head's series
// limit, and takes the batch's samples from the tenant's bucket at Commit.
class LimitingAppender final : public Appender {
 public:
  LimitingAppender(LimitingAppendable* parent, std::string tenant)
      : parent_(parent),
        tenant_(std::move(tenant)),
        limits_(parent->overrides_->For(tenant_)),
        inner_(parent->inner_->NewAppender(tenant_)) {}

  Result<uint64_t> Append(uint64_t ref, const Labels& labels, int64_t t_ms, double v) override {
    last_rejection_.reset();
    if (ref == 0) {
      LimitReason why{};
      Status s = ValidateSeriesLabels(limits_, labels, &why);
      if (!s.ok()) {
        parent_->CountDiscarded(ReasonLabel(why), tenant_, 1);
        last_rejection_ = why;
        return s;
      }
    }
    Result<uint64_t> r = inner_->Append(ref, labels, t_ms, v);
    if (r.ok()) {
      ++samples_;
      return r;
    }
    if (r.status().code() == StatusCode::kResourceExhausted) {
      // The head's series limit: refused for good, as Mimir answers it.
      parent_->CountDiscarded(reason::kPerUserSeriesLimit, tenant_, 1);
      last_rejection_ = LimitReason::kPerUserSeriesLimit;
      return InvalidArgumentError(
          fmt::format("per-user series limit of {} exceeded (limit "
                      "metrics.limits.max_global_series_per_user); {}",
                      limits_.max_global_series_per_user, r.status().message()));
    }
    return r;
  }

  Status AppendExemplar(uint64_t ref, const Labels& labels, const Exemplar& e) override {
    return inner_->AppendExemplar(ref, labels, e);
  }
  Status UpdateMetadata(const std::string& family, const MetricMetadata& m) override {
    return inner_->UpdateMetadata(family, m);
  }

  Status Commit() override {
    if (samples_ > 0 && limits_.ingestion_rate > 0 &&
        !parent_->rate_.AllowN(tenant_, static_cast<double>(samples_))) {
      inner_->Rollback();
      parent_->CountDiscarded(reason::kRateLimited, tenant_, static_cast<double>(samples_));
      double burst = std::max(limits_.ingestion_burst_size, limits_.ingestion_rate);
      return ResourceExhaustedError(fmt::format(
          "the request has been rejected because the tenant exceeded the ingestion rate limit, "
          "set to {} items/s with a maximum allowed burst of {} (limits "
          "metrics.limits.ingestion_rate and metrics.limits.ingestion_burst_size; the batch held "
          "{} samples)",
          limits_.ingestion_rate, burst, samples_));
    }
    return inner_->Commit();
  }
  void Rollback() override { inner_->Rollback(); }

  std::optional<LimitReason> last_rejection() const { return last_rejection_; }

 private:
  LimitingAppendable* parent_;
  std::string tenant_;
  TenantLimits limits_;
  std::unique_ptr<Appender> inner_;
  uint64_t samples_ = 0;
  std::optional<LimitReason> last_rejection_;  // of the last Append
};

std::optional<LimitReason> LastRejection(const Appender& app) {
  const auto* la = dynamic_cast<const LimitingAppender*>(&app);
  if (la == nullptr) return std::nullopt;
  return la->last_rejection();
}

LimitingAppendable::LimitingAppendable(Appendable* inner,
                                       std::shared_ptr<const Overrides> overrides,
                                       telemetry::Registry* registry, RateLimiter::ClockFn clock)
    : inner_(inner),
      overrides_(std::move(overrides)),
      rate_(
          [o = overrides_](std::string_view tenant) {
            const TenantLimits& l = o->For(tenant);
            return RateLimit{l.ingestion_rate, l.ingestion_burst_size};
          },
          std::move(clock)),
      discarded_(&(registry ? *registry : telemetry::Registry::Default())
                      .AddCounter("sightline_discarded_samples_total",
                                  "Samples refused by a per-tenant limit, by reason.",
                                  {"reason", "tenant"})) {}

LimitingAppendable::~LimitingAppendable() = default;

std::unique_ptr<Appender> LimitingAppendable::NewAppender(std::string_view tenant) {
  return std::make_unique<LimitingAppender>(this, std::string(tenant));
}

void LimitingAppendable::CountDiscarded(std::string_view why, std::string_view tenant, double n) {
  discarded_->WithLabels({why, tenant}).Inc(n);
}

}  // namespace sightline::metrics::limits
