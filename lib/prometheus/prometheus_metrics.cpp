// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include <tetrapak/error.hpp>
#include <tetrapak/prometheus.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>

#include <array>
#include <chrono>

namespace tetrapak {
namespace {

namespace prom = ::prometheus;

struct series_row {
    prometheus_series series;
    std::string_view help; ///< the family's (the same for every row of a family)
};

// One row per metric, in the enum's order (checked at compile time below).
constexpr series_row series_table[] = {
    {{"tetrapak_cache_lookups_total", "result", "hit"},
     "Calls to async_authorize, by how they were served: hit (a cached token), miss (a fetch started), "
     "coalesced (joined a fetch in flight)"},
    {{"tetrapak_cache_lookups_total", "result", "miss"}, {}},
    {{"tetrapak_cache_lookups_total", "result", "coalesced"}, {}},
    {{"tetrapak_renewals_started_total", {}, {}}, "Background renewals (refresh ahead) started"},
    {{"tetrapak_renewals_succeeded_total", {}, {}}, "Background renewals that stored a new token"},
    {{"tetrapak_renewals_failed_total", {}, {}, true},
     "Background renewals that failed (the cached token is still served), by error"},
    {{"tetrapak_retries_total", {}, {}, true}, "Failed attempts that will be retried, by error"},
    {{"tetrapak_token_fetch_failures_total", {}, {}, true}, "Token fetches that failed for good, by error"},
    {{"tetrapak_token_fetches_total", {}, {}}, "Token fetches that completed with a token"},
    {{"tetrapak_retry_after_refusals_total", {}, {}},
     "Calls refused at once because the server's Retry-After for their key was running"},
    {{"tetrapak_connections_opened_total", {}, {}}, "New connections to token endpoints"},
    {{"tetrapak_connections_reused_total", {}, {}}, "Requests sent over an idle keep-alive connection"},
    {{"tetrapak_tls_sessions_resumed_total", {}, {}}, "New connections whose TLS handshake resumed a session"},
    {{"tetrapak_connection_waits_total", {}, {}, true},
     "Requests that waited for a connection (max_per_endpoint busy), by error (none: it got one)"},
    {{"tetrapak_fleet_hits_total", {}, {}}, "Fetches answered by the fleet's shared store"},
    {{"tetrapak_fleet_stored_total", {}, {}}, "Tokens this instance stored in the fleet's shared store"},
    {{"tetrapak_fleet_waits_total", {}, {}}, "Fetches that waited for another instance of the fleet"},
    {{"tetrapak_fleet_unavailable_total", {}, {}, true},
     "Calls that went on without the shared store (Redis failed or the breaker is open), by cause"},
    {{"tetrapak_fleet_breaker_transitions_total", {}, {}, true},
     "The shared store's breaker opening (error: why) or closing again (error: none)"},
    {{"tetrapak_fleet_rejected_total", {}, {}}, "Shared values that did not open and were ignored"},
    {{"tetrapak_fleet_dropped_total", {}, {}}, "Copies dropped because another instance replaced or invalidated them"},
};
static_assert(std::size(series_table) == metric_count, "one series_table row per tetrapak::metric");

/// The latency histograms: the metric whose `elapsed` they observe.
struct timed_row {
    metric source;
    std::string_view name, help;
};
constexpr timed_row timed_table[] = {
    {metric::fetch, "tetrapak_token_fetch_duration_seconds", "Token fetch latency, all attempts included"},
    {metric::connection_wait, "tetrapak_connection_wait_duration_seconds",
     "How long requests waited for a connection to a token endpoint"},
    {metric::fleet_waited, "tetrapak_fleet_wait_duration_seconds", "How long fetches waited for another instance"},
};

/// From 1 ms to 30 s: token fetches are tens of milliseconds on a LAN, seconds
/// when a server is slow or retried.
const prom::Histogram::BucketBoundaries latency_buckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                       0.25,  0.5,    1,     2.5,  5,     10,   30};

prom::Labels with(prom::Labels labels, std::string_view name, std::string_view value)
{
    if (!name.empty())
        labels.emplace(std::string(name), std::string(value));
    return labels;
}

} // namespace

prometheus_series prometheus_series_of(metric m) noexcept
{
    const auto i = static_cast<std::size_t>(m);
    return i < metric_count ? series_table[i].series : prometheus_series{};
}

std::string prometheus_error_label(const boost::system::error_code& ec)
{
    if (!ec)
        return "none";
    if (ec.category() == client_category()) {
        if (auto name = to_string(static_cast<error>(ec.value())); !name.empty())
            return std::string(name);
    } else if (ec.category() == oauth_category()) {
        const auto code = static_cast<oauth_errc>(ec.value());
        if (auto name = to_string(code); !name.empty())
            return std::string(name);
        if (code == oauth_errc::other)
            return "other";
    }
    return std::string(ec.category().name()) + ':' + std::to_string(ec.value());
}

struct prometheus_metrics::families {
    prom::Labels labels;                              ///< the caller's, on every series
    std::array<prom::Counter*, metric_count> fixed{}; ///< metrics without an error label
    std::array<prom::Family<prom::Counter>*, metric_count> by_error{};
    std::array<prom::Histogram*, metric_count> timed{};
};

prometheus_metrics::prometheus_metrics(prom::Registry& registry, const prom::Labels& constant_labels)
    : families_(std::make_shared<families>())
{
    families_->labels = constant_labels;
    // Families carry no constant labels: the registry merges same-named families
    // only when their constant labels match, and services are told apart by theirs.
    std::string_view help;
    for (std::size_t i = 0; i < metric_count; ++i) {
        const auto& row = series_table[i];
        if (!row.help.empty())
            help = row.help;
        auto& family = prom::BuildCounter()
                           .Name(std::string(row.series.family))
                           .Help(std::string(help))
                           .Register(registry);
        if (row.series.error_label)
            families_->by_error[i] = &family;
        else
            families_->fixed[i] = &family.Add(with(constant_labels, row.series.label, row.series.label_value));
    }
    for (const auto& row : timed_table) {
        auto& family =
            prom::BuildHistogram().Name(std::string(row.name)).Help(std::string(row.help)).Register(registry);
        families_->timed[static_cast<std::size_t>(row.source)] = &family.Add(constant_labels, latency_buckets);
    }
}

void prometheus_metrics::record(const metrics_event& e) const
{
    const auto i = static_cast<std::size_t>(e.metric);
    if (i >= metric_count)
        return;
    auto& f = *families_;
    if (f.fixed[i])
        f.fixed[i]->Increment();
    else // Family::Add returns the existing series (under the family's lock)
        f.by_error[i]->Add(with(f.labels, "error", prometheus_error_label(e.ec))).Increment();
    if (f.timed[i])
        f.timed[i]->Observe(std::chrono::duration<double>(e.elapsed).count());
}

metrics_hook prometheus_metrics::hook() const
{
    return [self = *this](const metrics_event& e) { self.record(e); };
}

} // namespace tetrapak
