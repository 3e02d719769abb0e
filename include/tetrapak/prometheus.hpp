// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_PROMETHEUS_HPP
#define TETRAPAK_PROMETHEUS_HPP

/// \file
/// The service's metrics as Prometheus counters and latency histograms
/// (target `tetrapak::prometheus`, built when prometheus-cpp is found).
///
///     prometheus::Registry registry;
///     tetrapak::prometheus_metrics exported(registry, {{"service", "orders"}});
///     auth.set_metrics(exported.hook());
///     // serve prometheus::TextSerializer().Serialize(registry.Collect()) on /metrics
///
/// Every tetrapak::metric maps to one series (prometheus_series_of). Labels
/// carry only names fixed by this library and error-code names: never a
/// secret, a token, a client id or a cache key.

#include <tetrapak/metrics.hpp>

#include <prometheus/labels.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <string_view>

namespace tetrapak {

/// Where one metric's events are counted: a counter family, and the label
/// (name and value) that sets this metric apart within it, if any.
struct prometheus_series {
    std::string_view family;      ///< e.g. "tetrapak_cache_lookups_total"
    std::string_view label;       ///< e.g. "result"; empty: the family counts this metric alone
    std::string_view label_value; ///< e.g. "hit"
    bool error_label = false;     ///< events carry their error code's name in label "error"
};

/// The counter series of `m` (every metric has one).
prometheus_series prometheus_series_of(metric m) noexcept;

/// The value of label "error" for `ec`: the enumerator's name for this
/// library's codes (such as "redis_timeout", "invalid_client"), else
/// "<category>:<value>" (e.g. "system:111"), "" for success.
std::string prometheus_error_label(const boost::system::error_code& ec);

/// Registers this library's families in a registry and counts events into
/// them. The registry must outlive every hook taken from this object (the
/// hook keeps the rest alive). Several services may share one registry with
/// different constant labels (families with the same name are merged).
class prometheus_metrics {
public:
    /// Registers the families in `registry` (reusing same-named ones already
    /// there) and puts `constant_labels` on every series this object counts
    /// into. prometheus-cpp's exceptions (e.g. for an invalid label name) propagate.
    explicit prometheus_metrics(::prometheus::Registry& registry, const ::prometheus::Labels& constant_labels = {});

    /// A hook for authorization_service::set_metrics. Thread-safe and cheap:
    /// an increment, and for timed events one histogram observation.
    metrics_hook hook() const;

    /// Counts one event (what the hook does).
    void record(const metrics_event& e) const;

private:
    struct families;
    std::shared_ptr<families> families_;
};

} // namespace tetrapak

#endif
