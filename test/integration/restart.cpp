// The authorization server is killed and restarted (same port) while callers
// keep asking for 2-second tokens: nobody ever receives an expired token,
// callers see typed errors only while the server is down, and service
// resumes by itself.
#include "oidc_server.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

using namespace tetrapak;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

enum phase : int { up = 0, down = 1, restarted = 2 };

struct tallies {
    std::atomic<int> phase{up};
    std::atomic<bool> stop{false};
    std::atomic<int> calls{0}, ok{0}, expired{0}, errors_while_up{0}, errors_while_down{0}, ok_after_restart{0},
        untyped{0};
};

asio::awaitable<void> caller(authorization_service& auth, tallies& t)
{
    asio::steady_timer pause(co_await asio::this_coro::executor);
    while (!t.stop) {
        const int before = t.phase;
        auto [ec, token] = co_await auth.async_authorize({}, asio::as_tuple(asio::use_awaitable));
        const int after = t.phase;
        const auto now = std::chrono::system_clock::now();
        ++t.calls;
        if (!ec) {
            ++t.ok;
            if (!token.expires_at() || *token.expires_at() <= now)
                ++t.expired;
            if (before == restarted)
                ++t.ok_after_restart;
        } else {
            if (before == up && after == up)
                ++t.errors_while_up;
            else
                ++t.errors_while_down;
            if (ec.message().empty() || ec == asio::error::operation_aborted)
                ++t.untyped;
        }
        pause.expires_after(5ms);
        co_await pause.async_wait(asio::use_awaitable);
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(restart)

BOOST_AUTO_TEST_CASE(server_killed_and_restarted_while_callers_ask_for_short_lived_tokens)
{
    auto server = std::make_unique<test::oidc_server>(test::server_options{.ttl = 2});
    const auto port = server->port();
    auto cfg = test::basic_client(*server);
    cfg.retry.max_attempts = 2;
    cfg.retry.base_delay = 20ms;
    cfg.timeouts.connect = 1s;

    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    tallies t;
    for (int i = 0; i < 8; ++i)
        asio::co_spawn(ctx, caller(auth, t), asio::detached);
    std::thread runner([&] { ctx.run(); });

    std::this_thread::sleep_for(2500ms);
    t.phase = down;
    server.reset(); // killed: its tokens still cached for at most their usable time
    std::this_thread::sleep_for(2500ms);
    server = std::make_unique<test::oidc_server>(
        test::server_options{.ttl = 2, .extra_args = {"--port", std::to_string(port)}});
    BOOST_TEST_REQUIRE(server->port() == port);
    t.phase = restarted;
    std::this_thread::sleep_for(3000ms);
    t.stop = true;
    runner.join();

    BOOST_TEST_MESSAGE("calls " << t.calls << ", ok " << t.ok << ", errors while down " << t.errors_while_down
                                << ", ok after the restart " << t.ok_after_restart << "; " << auth.stats());
    BOOST_TEST(t.calls > 1000);
    BOOST_TEST(t.expired == 0);
    BOOST_TEST(t.errors_while_up == 0);
    BOOST_TEST(t.untyped == 0);
    BOOST_TEST(t.errors_while_down > 0); // the cached token ran out while the server was down
    BOOST_TEST(t.ok_after_restart > 100); // and service resumed by itself
}

BOOST_AUTO_TEST_SUITE_END()
