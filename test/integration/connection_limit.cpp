// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// connections.max_per_endpoint: a burst of distinct keys against the real
// server under a 1,024 file limit, the wait's bound and its cancellation, and
// running out of file descriptors with no bound at all.

#include "fault_server.hpp"
#include "fetch.hpp"
#include "oidc_server.hpp"
#include "test_config.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>

#include <sys/resource.h>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace tetrapak;
using boost::system::error_code;

namespace {

/// Lowers the soft limit on open files for the scope of a test.
class file_limit {
public:
    explicit file_limit(rlim_t soft)
    {
        ::getrlimit(RLIMIT_NOFILE, &saved_);
        rlimit lowered = saved_;
        lowered.rlim_cur = std::min<rlim_t>(soft, saved_.rlim_max);
        BOOST_REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
    }
    ~file_limit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
    file_limit(const file_limit&) = delete;
    file_limit& operator=(const file_limit&) = delete;

private:
    rlimit saved_{};
};

struct burst_result {
    int ok = 0;
    std::map<std::string, int> errors; ///< message -> count
    std::chrono::steady_clock::duration last{};
};

/// `n` token exchanges for distinct audiences on one service, all at once.
burst_result burst(authorization_service& auth, asio::io_context& ctx, const auth_config& base,
                   const actor_token& subject, int n)
{
    burst_result r;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
        auto cfg = std::make_shared<auth_config>(base);
        cfg->audience = "urn:tetrapak:burst-" + std::to_string(i);
        http_client_options o;
        o.auth_config = cfg;
        o.actor_token = subject;
        auth.async_authorize(o, [&r, t0](error_code ec, actor_token) {
            if (ec)
                ++r.errors[ec.message()];
            else
                ++r.ok;
            r.last = std::chrono::steady_clock::now() - t0;
        });
    }
    ctx.run_for(120s);
    return r;
}

} // namespace

BOOST_AUTO_TEST_SUITE(connection_limit)

BOOST_AUTO_TEST_CASE(burst_of_distinct_keys_stays_within_the_bound)
{
    constexpr int callers = 3000;
    constexpr std::size_t bound = 16;
    auto& server = test::default_server();
    actor_token subject(server.user_token("burst-user", "User", 3600));
    auto base = test::basic_client(server);
    base.grant = grant_type::token_exchange;
    base.connections.max_per_endpoint = bound;
    base.connections.max_idle_per_endpoint = bound;
    base.timeouts.connection_wait = 60s;

    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), base);
    server.reset_stats();
    burst_result r;
    {
        file_limit limit(1024);
        r = burst(auth, ctx, base, subject, callers);
    }
    const long most_open = server.stat("max_open_connections");
    for (auto& [m, count] : r.errors)
        BOOST_TEST_MESSAGE(count << " callers failed: " << m);
    BOOST_TEST(r.ok == callers);
    // The stats request's own connection is the one allowed over the bound.
    BOOST_TEST(most_open <= static_cast<long>(bound) + 1);
    BOOST_TEST(server.stat("exchange_requests") == callers);
    const auto s = auth.stats();
    BOOST_TEST(s[metric::connection_opened] >= 1u);
    BOOST_TEST(s[metric::connection_wait] >= 1u); // the burst did queue
    BOOST_TEST_MESSAGE(callers << " callers, bound " << bound << ": server saw at most " << most_open
                               << " connections open at once; last token after "
                               << std::chrono::duration_cast<std::chrono::milliseconds>(r.last).count() << " ms; "
                               << s);
}

BOOST_AUTO_TEST_CASE(a_wait_is_bounded_cancellable_and_traced)
{
    std::atomic<int> requests{0};
    const std::string slow_answer = test::http(
        "200 OK", R"({"access_token":"slow","token_type":"Bearer","expires_in":3600})", "Connection: close\r\n");
    test::fault_server server(test::serving(requests, [&](int) {
        std::this_thread::sleep_for(700ms);
        return slow_answer;
    }));
    auto cfg = test::fault_client(server.url());
    cfg.connections.max_per_endpoint = 1;
    cfg.timeouts.connection_wait = 200ms;

    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    std::mutex mtx;
    std::vector<step> waits_finished;
    auth.set_trace([&](const trace_event& e) {
        std::lock_guard lock(mtx);
        if (e.step == step::connection_wait && e.finished)
            waits_finished.push_back(e.step);
    });
    auto with_scope = [&](std::string s) {
        auto c = std::make_shared<auth_config>(cfg);
        c->scope = {std::move(s)};
        http_client_options o;
        o.auth_config = c;
        return o;
    };
    error_code first = asio::error::would_block, second = first, third = first;
    auth.async_authorize(with_scope("first"), [&](error_code ec, actor_token) { first = ec; });
    auth.async_authorize(with_scope("second"), [&](error_code ec, actor_token) { second = ec; });
    asio::cancellation_signal sig;
    auth.async_authorize(with_scope("third"),
                         asio::bind_cancellation_slot(sig.slot(), [&](error_code ec, actor_token) { third = ec; }));
    asio::steady_timer cancel_third(ctx, 50ms);
    cancel_third.async_wait([&](error_code) { sig.emit(asio::cancellation_type::terminal); });
    ctx.run_for(10s);

    BOOST_TEST(first == error_code());
    BOOST_TEST(second == error_code(error::connection_wait_timeout));
    BOOST_TEST(third == error_code(asio::error::operation_aborted));
    BOOST_TEST(requests.load() == 1); // neither waiter reached the server
    const auto s = auth.stats();
    BOOST_TEST(s[metric::connection_wait] == 2u);
    std::lock_guard lock(mtx);
    BOOST_TEST(waits_finished.size() == 2u);
}

BOOST_AUTO_TEST_CASE(running_out_of_descriptors_is_typed_and_retried)
{
    auto& server = test::default_server();
    actor_token subject(server.user_token("fd-user", "User", 3600));
    auto base = test::basic_client(server);
    base.grant = grant_type::token_exchange;
    base.connections.max_per_endpoint = 0; // no bound: the file limit is what stops it
    base.retry.max_attempts = 3;
    base.retry.base_delay = 10ms;

    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), base);
    std::atomic<int> emfile_retries{0};
    auth.set_metrics([&](const metrics_event& e) {
        if (e.metric == metric::retry && e.ec == error::too_many_open_files)
            ++emfile_retries;
    });
    burst_result r;
    {
        file_limit limit(64);
        r = burst(auth, ctx, base, subject, 200);
    }
    for (auto& [m, count] : r.errors) {
        BOOST_TEST_MESSAGE(count << " callers failed: " << m);
        BOOST_TEST(m == error_code(error::too_many_open_files).message()); // never another error
    }
    BOOST_TEST(emfile_retries.load() > 0);
    BOOST_TEST(r.ok + std::accumulate(r.errors.begin(), r.errors.end(), 0, [](int a, auto& kv) { return a + kv.second; }) == 200);
}

BOOST_AUTO_TEST_SUITE_END()
