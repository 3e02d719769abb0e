// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// tetrapak::prometheus: every metric has its own series, error labels are
// enumerator names, events from many threads are all counted, and services
// sharing a registry are told apart by their labels. (The scrape of a real
// service against its stats() is test/e2e/prometheus.sh.)

#include <tetrapak/error.hpp>
#include <tetrapak/prometheus.hpp>

#include <boost/asio/error.hpp>
#include <boost/test/unit_test.hpp>

#include <prometheus/text_serializer.h>

#include <set>
#include <thread>
#include <vector>

using namespace tetrapak;
using namespace std::chrono_literals;

namespace {

metric metric_at(std::size_t i) { return static_cast<metric>(i); }

/// The value of the sample `name{labels}` in the text format; -1 when absent.
double sample(const std::string& text, const std::string& name_and_labels)
{
    const std::string needle = "\n" + name_and_labels + " ";
    const auto at = ("\n" + text).find(needle);
    return at == std::string::npos ? -1 : std::stod(text.substr(at + needle.size() - 1));
}

std::string scrape(const ::prometheus::Registry& registry)
{
    return ::prometheus::TextSerializer().Serialize(registry.Collect());
}

} // namespace

BOOST_AUTO_TEST_SUITE(prometheus_export)

BOOST_AUTO_TEST_CASE(every_metric_has_its_own_series)
{
    std::set<std::pair<std::string_view, std::string_view>> seen;
    for (std::size_t i = 0; i < metric_count; ++i) {
        const auto s = prometheus_series_of(metric_at(i));
        BOOST_TEST_CONTEXT(to_string(metric_at(i)))
        {
            BOOST_TEST(s.family.starts_with("tetrapak_"));
            BOOST_TEST(s.family.ends_with("_total")); // counters, by Prometheus' naming rules
            BOOST_TEST(s.label.empty() == s.label_value.empty());
            BOOST_TEST(seen.insert({s.family, s.label_value}).second);
        }
    }
    BOOST_TEST(prometheus_series_of(metric::cache_hit).label_value == "hit");
    BOOST_TEST(prometheus_series_of(metric::failure).error_label);
    BOOST_TEST(!prometheus_series_of(metric::fetch).error_label);
}

BOOST_AUTO_TEST_CASE(error_labels_are_enumerator_names)
{
    BOOST_TEST(prometheus_error_label({}) == "none");
    BOOST_TEST(prometheus_error_label(error::redis_timeout) == "redis_timeout");
    BOOST_TEST(prometheus_error_label(error::missing_client_id) == "missing_client_id");
    BOOST_TEST(prometheus_error_label(oauth_errc::invalid_client) == "invalid_client");
    BOOST_TEST(prometheus_error_label(oauth_errc::other) == "other");
    BOOST_TEST(prometheus_error_label(boost::asio::error::connection_refused) == "system:111");
    BOOST_TEST(prometheus_error_label(boost::system::error_code(9999, client_category())) == "tetrapak.client:9999");
    // Every enumerator has a name (to_string is a switch the compiler checks; this checks the range).
    for (int v = 1; v <= static_cast<int>(error::fleet_value_rejected); ++v)
        BOOST_TEST(!to_string(static_cast<error>(v)).empty(), v);
}

BOOST_AUTO_TEST_CASE(events_are_counted_into_their_series)
{
    ::prometheus::Registry registry;
    prometheus_metrics exported(registry, {{"service", "orders"}});
    auto hook = exported.hook();
    hook({metric::cache_hit});
    hook({metric::cache_hit});
    hook({metric::cache_miss});
    hook({metric::fetch, {}, 30ms});
    hook({metric::failure, oauth_errc::invalid_grant});
    hook({metric::failure, error::connect_timeout});
    hook({metric::failure, error::connect_timeout});
    hook({metric::fleet_breaker, error::redis_timeout});
    hook({metric::fleet_breaker});
    const auto text = scrape(registry);
    BOOST_TEST_MESSAGE(text);
    BOOST_TEST(sample(text, R"(tetrapak_cache_lookups_total{result="hit",service="orders"})") == 2);
    BOOST_TEST(sample(text, R"(tetrapak_cache_lookups_total{result="miss",service="orders"})") == 1);
    BOOST_TEST(sample(text, R"(tetrapak_cache_lookups_total{result="coalesced",service="orders"})") == 0);
    BOOST_TEST(sample(text, R"(tetrapak_token_fetches_total{service="orders"})") == 1);
    BOOST_TEST(sample(text, R"(tetrapak_token_fetch_failures_total{error="invalid_grant",service="orders"})") == 1);
    BOOST_TEST(sample(text, R"(tetrapak_token_fetch_failures_total{error="connect_timeout",service="orders"})") == 2);
    BOOST_TEST(sample(text, R"(tetrapak_fleet_breaker_transitions_total{error="redis_timeout",service="orders"})") == 1);
    BOOST_TEST(sample(text, R"(tetrapak_fleet_breaker_transitions_total{error="none",service="orders"})") == 1);
    // 30 ms: in the 0.05 s bucket, not in the 0.025 s one.
    BOOST_TEST(sample(text, R"(tetrapak_token_fetch_duration_seconds_count{service="orders"})") == 1);
    BOOST_TEST(sample(text, R"(tetrapak_token_fetch_duration_seconds_bucket{service="orders",le="0.025"})") == 0);
    BOOST_TEST(sample(text, R"(tetrapak_token_fetch_duration_seconds_bucket{service="orders",le="0.05"})") == 1);
    BOOST_TEST(sample(text, R"(tetrapak_token_fetch_duration_seconds_sum{service="orders"})") == 0.03,
               boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(two_services_share_a_registry)
{
    ::prometheus::Registry registry;
    prometheus_metrics orders(registry, {{"service", "orders"}});
    prometheus_metrics billing(registry, {{"service", "billing"}});
    orders.record({metric::fetch, {}, 10ms});
    billing.record({metric::fetch, {}, 10ms});
    billing.record({metric::fetch, {}, 10ms});
    const auto text = scrape(registry);
    BOOST_TEST(sample(text, R"(tetrapak_token_fetches_total{service="orders"})") == 1);
    BOOST_TEST(sample(text, R"(tetrapak_token_fetches_total{service="billing"})") == 2);
}

BOOST_AUTO_TEST_CASE(events_from_many_threads_are_all_counted)
{
    ::prometheus::Registry registry;
    prometheus_metrics exported(registry);
    auto hook = exported.hook();
    constexpr int threads = 4, events = 20000;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            for (int i = 0; i < events; ++i) {
                hook({metric::cache_hit});
                hook({metric::retry, t % 2 ? boost::system::error_code(error::server_unavailable)
                                           : boost::system::error_code(oauth_errc::temporarily_unavailable)});
            }
        });
    for (auto& th : pool)
        th.join();
    const auto text = scrape(registry);
    BOOST_TEST(sample(text, R"(tetrapak_cache_lookups_total{result="hit"})") == threads * events);
    BOOST_TEST(sample(text, R"(tetrapak_retries_total{error="server_unavailable"})") == threads / 2 * events);
    BOOST_TEST(sample(text, R"(tetrapak_retries_total{error="temporarily_unavailable"})") == threads / 2 * events);
}

BOOST_AUTO_TEST_SUITE_END()
