// Retries (5xx, 429 and Retry-After, transport errors, OAuth errors that are
// never retried, cancellation of a backoff wait) and keep-alive connections
// that go bad, against in-process TLS servers that misbehave on purpose.
#include "fault_server.hpp"
#include "fetch.hpp"
#include "oidc_server.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <thread>

using namespace tetrapak;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using boost::system::error_code;
using test::fault_server;
using steady = std::chrono::steady_clock;

namespace {

using test::http;
using test::imf_fixdate;
using test::reset;

std::string token_body(int n)
{
    return R"({"access_token":"tok-)" + std::to_string(n) + R"(","token_type":"Bearer","expires_in":3600})";
}

/// A 200 with a token; keep-alive unless `close`.
std::string ok(int n, bool close = false) { return http("200 OK", token_body(n), close ? "Connection: close\r\n" : ""); }

constexpr const char* close_hdr = "Connection: close\r\n";

using test::reset_marker;
using test::serving;

/// A fault-server client with retries on and short delays.
auth_config retrying(const fault_server& server, int attempts = 3)
{
    auto c = test::fault_client(server.url());
    c.retry.max_attempts = attempts;
    c.retry.base_delay = 20ms;
    c.retry.max_delay = 2s;
    return c;
}

using result = test::call_result;

std::shared_ptr<result> authorize(asio::io_context& ctx, authorization_service& auth, bool force = false)
{
    http_client_options o;
    o.force_authorization = force;
    return test::call(ctx, auth, o);
}

/// Milliseconds, for readable assertions.
long long ms(steady::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

/// Runs `ctx` in small slices until `pred` holds (or `limit` passes).
template <class Pred>
bool run_until(asio::io_context& ctx, Pred pred, steady::duration limit = 10s)
{
    const auto deadline = steady::now() + limit;
    while (!pred() && steady::now() < deadline) {
        if (ctx.stopped())
            return pred();
        ctx.run_one_for(5ms);
    }
    return pred();
}

} // namespace

BOOST_AUTO_TEST_SUITE(retry)

BOOST_AUTO_TEST_CASE(service_unavailable_twice_then_success)
{
    // Keep-alive 503s: the retries go over the same connection.
    std::atomic<int> requests{0};
    fault_server server(serving(requests, [](int n) { return n < 3 ? http("503 Service Unavailable", "") : ok(n); }));
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), retrying(server));
    auto r = authorize(ctx, auth);
    BOOST_TEST_REQUIRE(!r->ec, r->ec.message());
    BOOST_TEST(r->token.value() == "tok-3");
    BOOST_TEST(requests.load() == 3);
    BOOST_TEST(server.connections() == 1);
    const auto s = auth.stats();
    BOOST_TEST(s[metric::retry] == 2u);
    BOOST_TEST(s[metric::fetch] == 1u);
    BOOST_TEST(s[metric::failure] == 0u);
    BOOST_TEST(s[metric::connection_reused] == 2u);
}

BOOST_AUTO_TEST_CASE(server_error_until_attempts_are_used_up)
{
    std::atomic<int> requests{0};
    fault_server server(serving(requests, [](int) { return http("500 Internal Server Error", "oops", close_hdr); }));
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), retrying(server, 3));
    auto r = authorize(ctx, auth);
    BOOST_TEST(r->ec == error::server_unavailable, r->ec.message());
    BOOST_TEST(r->token.empty());
    BOOST_TEST(r->diag.http_status() == 500u);
    BOOST_TEST(requests.load() == 3);
    BOOST_TEST(server.connections() == 3);
    const auto s = auth.stats();
    BOOST_TEST(s[metric::retry] == 2u);
    BOOST_TEST(s[metric::failure] == 1u);
    BOOST_TEST(s[metric::fetch] == 0u);
}

BOOST_AUTO_TEST_CASE(retry_after_seconds_is_waited_for)
{
    // The backoff (at most 20 ms) is shorter than the server's Retry-After.
    std::atomic<int> requests{0};
    fault_server server(serving(requests, [](int n) {
        return n == 1 ? http("429 Too Many Requests", "", std::string("Retry-After: 1\r\n") + close_hdr) : ok(n, true);
    }));
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), retrying(server));
    auto r = authorize(ctx, auth);
    BOOST_TEST_REQUIRE(!r->ec, r->ec.message());
    BOOST_TEST(r->token.value() == "tok-2");
    BOOST_TEST(requests.load() == 2);
    BOOST_TEST(ms(r->elapsed) >= 950);
    BOOST_TEST(auth.stats()[metric::retry] == 1u);
}

BOOST_AUTO_TEST_CASE(retry_after_date_beyond_max_delay_fails_at_once_and_is_remembered)
{
    std::atomic<int> requests{0};
    const std::string when = imf_fixdate(std::chrono::system_clock::now() + 10s);
    fault_server server(serving(requests, [when](int n) {
        return n == 1 ? http("429 Too Many Requests", "", "Retry-After: " + when + "\r\n" + close_hdr) : ok(n, true);
    }));
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), retrying(server)); // max_delay 2 s
    auto first = authorize(ctx, auth);
    BOOST_TEST(first->ec == error::too_many_requests, first->ec.message());
    BOOST_TEST(first->diag.http_status() == 429u);
    BOOST_TEST_REQUIRE(first->diag.retry_after().has_value());
    BOOST_TEST(first->diag.retry_after()->count() > 2);
    BOOST_TEST(first->diag.retry_after()->count() <= 11);
    BOOST_TEST(ms(first->elapsed) < 1000); // no wait, no retry
    BOOST_TEST(requests.load() == 1);
    BOOST_TEST(auth.stats()[metric::retry] == 0u);

    // Within the window: refused at once, nothing sent.
    auto second = authorize(ctx, auth);
    BOOST_TEST(second->ec == error::too_many_requests, second->ec.message());
    BOOST_TEST(second->token.empty());
    BOOST_TEST(second->diag.http_status() == 429u);
    BOOST_TEST_REQUIRE(second->diag.retry_after().has_value()); // what is left of it
    BOOST_TEST(second->diag.retry_after()->count() > 0);
    BOOST_TEST(second->diag.retry_after()->count() <= first->diag.retry_after()->count());
    BOOST_TEST(ms(second->elapsed) < 500);
    BOOST_TEST(requests.load() == 1);
    BOOST_TEST(server.connections() == 1);
    BOOST_TEST(auth.stats()[metric::retry_after_honoured] == 1u);

    // invalidate() forgets the remembered Retry-After: the next call is sent.
    auth.invalidate({});
    auto third = authorize(ctx, auth);
    BOOST_TEST_REQUIRE(!third->ec, third->ec.message());
    BOOST_TEST(third->token.value() == "tok-2");
    BOOST_TEST(requests.load() == 2);
    BOOST_TEST(auth.stats()[metric::retry_after_honoured] == 1u);
}

BOOST_AUTO_TEST_CASE(oauth_errors_are_never_retried)
{
    const struct {
        const char* error;
        oauth_errc code;
    } cases[] = {
        {"invalid_client", oauth_errc::invalid_client},         {"invalid_grant", oauth_errc::invalid_grant},
        {"invalid_scope", oauth_errc::invalid_scope},           {"unauthorized_client", oauth_errc::unauthorized_client},
        {"invalid_request", oauth_errc::invalid_request},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT("error " << c.error)
        {
            std::atomic<int> requests{0};
            const std::string body = std::string(R"({"error":")") + c.error + R"("})";
            fault_server server(serving(requests, [body](int n) {
                return n == 1 ? http("400 Bad Request", body, close_hdr) : ok(n, true);
            }));
            asio::io_context ctx;
            authorization_service auth(ctx.get_executor(), retrying(server));
            auto r = authorize(ctx, auth);
            BOOST_TEST(r->ec == c.code, r->ec.message());
            BOOST_TEST(r->diag.error() == c.error);
            BOOST_TEST(r->diag.http_status() == 400u);
            BOOST_TEST(requests.load() == 1);
            BOOST_TEST(server.connections() == 1);
            BOOST_TEST(auth.stats()[metric::retry] == 0u);
            BOOST_TEST(auth.stats()[metric::failure] == 1u);
        }
    }
}

BOOST_AUTO_TEST_CASE(connection_reset_before_the_answer_is_retried)
{
    std::atomic<int> requests{0};
    fault_server server(serving(requests, [](int n) { return n == 1 ? reset_marker : ok(n, true); }));
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), retrying(server));
    auto r = authorize(ctx, auth);
    BOOST_TEST_REQUIRE(!r->ec, r->ec.message());
    BOOST_TEST(r->token.value() == "tok-2");
    BOOST_TEST(requests.load() == 2);
    BOOST_TEST(server.connections() == 2);
    BOOST_TEST(auth.stats()[metric::retry] == 1u);
}

BOOST_AUTO_TEST_CASE(cancellation_during_the_backoff_wait)
{
    // A 503 whose Retry-After (4 s, within max_delay) makes the wait at least
    // 4 s whatever the jitter draws from the 5 s base delay.
    std::atomic<int> requests{0};
    fault_server server(serving(requests, [](int n) {
        return n == 1 ? http("503 Service Unavailable", "", std::string("Retry-After: 4\r\n") + close_hdr) : ok(n, true);
    }));
    auto cfg = retrying(server);
    cfg.retry.base_delay = 5s;
    cfg.retry.max_delay = 5s;
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    asio::cancellation_signal sig;
    int calls = 0;
    error_code got;
    actor_token token;
    steady::time_point completed_at{};
    auth.async_authorize({}, asio::bind_cancellation_slot(sig.slot(), [&](error_code ec, actor_token t) {
                             ++calls;
                             got = ec;
                             token = std::move(t);
                             completed_at = steady::now();
                         }));
    BOOST_TEST_REQUIRE(run_until(ctx, [&] { return auth.stats()[metric::retry] == 1u; }));
    BOOST_TEST_REQUIRE(calls == 0);
    const auto t0 = steady::now();
    sig.emit(asio::cancellation_type::terminal);
    ctx.run_for(10s);
    const auto elapsed = steady::now() - t0;
    BOOST_TEST(ctx.stopped()); // the backoff timer was cancelled: no work left
    BOOST_TEST(ms(elapsed) < 1500);
    BOOST_TEST(calls == 1);
    BOOST_TEST(got == asio::error::operation_aborted, got.message());
    BOOST_TEST(token.empty());
    BOOST_TEST(ms(completed_at - t0) < 1000);
    BOOST_TEST(requests.load() == 1);
    BOOST_TEST(server.connections() == 1);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(keep_alive_faults)

BOOST_AUTO_TEST_CASE(server_closes_after_a_keep_alive_answer)
{
    // Each connection: one keep-alive answer, then the server closes it.
    std::atomic<int> requests{0};
    fault_server server([&requests](fault_server::socket& s) {
        auto tls = test::server_tls_context();
        test::tls_stream st(s, tls);
        st.handshake(asio::ssl::stream_base::server);
        test::read_request(st);
        const int n = ++requests;
        test::write_raw(st, ok(n));
    });
    asio::io_context ctx;
    auto cfg = test::fault_client(server.url()); // one attempt: the retry logic cannot help
    BOOST_REQUIRE(cfg.retry.max_attempts == 1);
    authorization_service auth(ctx.get_executor(), cfg);
    auto first = authorize(ctx, auth, true);
    BOOST_TEST_REQUIRE(!first->ec, first->ec.message());
    BOOST_TEST(first->token.value() == "tok-1");
    auto second = authorize(ctx, auth, true);
    BOOST_TEST_REQUIRE(!second->ec, second->ec.message());
    BOOST_TEST(second->token.value() == "tok-2");
    BOOST_TEST(requests.load() == 2);
    BOOST_TEST(server.connections() == 2);
}

BOOST_AUTO_TEST_CASE(server_closes_a_reused_connection_when_the_request_arrives)
{
    // The keep-alive race: the server reads the second request on the idle
    // connection and closes it without a byte of answer. The exchange goes
    // on over a new connection (not a retry: one attempt).
    std::atomic<int> requests{0};
    std::atomic<int> conns{0};
    fault_server server([&](fault_server::socket& s) {
        const int c = ++conns;
        auto tls = test::server_tls_context();
        test::tls_stream st(s, tls);
        st.handshake(asio::ssl::stream_base::server);
        test::read_request(st);
        const int n = ++requests;
        test::write_raw(st, ok(n, c != 1));
        if (c == 1) {
            test::read_request(st);
            ++requests;
            // return: closed without an answer
        }
    });
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::fault_client(server.url()));
    auto first = authorize(ctx, auth, true);
    BOOST_TEST_REQUIRE(!first->ec, first->ec.message());
    BOOST_TEST(first->token.value() == "tok-1");
    auto second = authorize(ctx, auth, true);
    BOOST_TEST_REQUIRE(!second->ec, second->ec.message());
    BOOST_TEST(second->token.value() == "tok-3");
    BOOST_TEST(requests.load() == 3);
    BOOST_TEST(server.connections() == 2);
    BOOST_TEST(auth.stats()[metric::connection_reused] == 1u);
    BOOST_TEST(auth.stats()[metric::retry] == 0u);
}

BOOST_AUTO_TEST_CASE(two_requests_over_one_connection)
{
    std::atomic<int> requests{0};
    fault_server server([&requests](fault_server::socket& s) {
        auto tls = test::server_tls_context();
        test::tls_stream st(s, tls);
        st.handshake(asio::ssl::stream_base::server);
        for (int i = 0; i < 2; ++i) {
            test::read_request(st);
            const int n = ++requests;
            test::write_raw(st, ok(n));
        }
    });
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::fault_client(server.url()));
    auto first = authorize(ctx, auth, true);
    BOOST_TEST_REQUIRE(!first->ec, first->ec.message());
    BOOST_TEST(first->token.value() == "tok-1");
    auto second = authorize(ctx, auth, true);
    BOOST_TEST_REQUIRE(!second->ec, second->ec.message());
    BOOST_TEST(second->token.value() == "tok-2");
    BOOST_TEST(requests.load() == 2);
    BOOST_TEST(server.connections() == 1);
    const auto s = auth.stats();
    BOOST_TEST(s[metric::connection_reused] == 1u);
    BOOST_TEST(s[metric::connection_opened] == 1u);
}

BOOST_AUTO_TEST_CASE(connection_of_a_cancelled_request_is_not_reused)
{
    // Connection 1 reads the request and stalls (until the client closes it);
    // later connections answer.
    std::atomic<int> requests{0};
    std::atomic<int> conns{0};
    std::atomic<bool> got_request{false};
    fault_server server([&](fault_server::socket& s) {
        const int c = ++conns;
        auto tls = test::server_tls_context();
        test::tls_stream st(s, tls);
        st.handshake(asio::ssl::stream_base::server);
        test::read_request(st);
        const int n = ++requests;
        if (c == 1) {
            got_request = true;
            test::stall(s);
            return;
        }
        test::write_raw(st, ok(n, true));
    });
    auto cfg = test::fault_client(server.url());
    cfg.timeouts.response_header = 3s; // a reused stalled connection would fail, not hang
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    asio::cancellation_signal sig;
    int calls = 0;
    error_code got;
    http_client_options o;
    o.force_authorization = true;
    auth.async_authorize(o, asio::bind_cancellation_slot(sig.slot(), [&](error_code ec, actor_token) {
                             ++calls;
                             got = ec;
                         }));
    BOOST_TEST_REQUIRE(run_until(ctx, [&] { return got_request.load(); }));
    BOOST_TEST_REQUIRE(calls == 0);
    const auto t0 = steady::now();
    sig.emit(asio::cancellation_type::terminal);
    ctx.run_for(10s);
    BOOST_TEST(ctx.stopped());
    BOOST_TEST(ms(steady::now() - t0) < 1000);
    BOOST_TEST(calls == 1);
    BOOST_TEST(got == asio::error::operation_aborted, got.message());
    BOOST_TEST(server.connections() == 1);

    auto next = authorize(ctx, auth, true);
    BOOST_TEST_REQUIRE(!next->ec, next->ec.message());
    BOOST_TEST(next->token.value() == "tok-2");
    BOOST_TEST(server.connections() == 2); // a new connection
    BOOST_TEST(auth.stats()[metric::connection_reused] == 0u);
    BOOST_TEST(requests.load() == 2);
}

BOOST_AUTO_TEST_CASE(bytes_after_an_interim_answer_never_reach_the_next_request)
{
    // A 103 and a 200 in one write: the client takes the 103 as the answer
    // (an error), and the connection, with the 200 still unread, must not be
    // reused, or the next request would read an answer that is not its own.
    std::atomic<int> requests{0};
    fault_server server(serving(requests, [](int n) {
        if (n == 1)
            return std::string("HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n") + ok(1);
        return ok(n);
    }));
    auto cfg = retrying(server, 1);
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    auto first = authorize(ctx, auth, true);
    BOOST_TEST(first->ec == error::unexpected_http_status, first->ec.message());
    auto second = authorize(ctx, auth, true);
    BOOST_TEST_REQUIRE(!second->ec, second->ec.message());
    BOOST_TEST(second->token.value() == "tok-2"); // its own answer, never the leftover tok-1
    BOOST_TEST(server.connections() == 2);
    BOOST_TEST(auth.stats()[metric::connection_reused] == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(retry_after_and_cache)

BOOST_AUTO_TEST_CASE(a_token_already_expired_is_an_error_never_a_token)
{
    std::atomic<int> requests{0};
    fault_server server(serving(requests, [](int) {
        return http("200 OK", R"({"access_token":"stale","token_type":"Bearer","expires_in":0})");
    }));
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), retrying(server, 1));
    auto r = authorize(ctx, auth);
    BOOST_TEST(r->ec == error::invalid_expires_in, r->ec.message());
    BOOST_TEST(r->token.empty());
    BOOST_TEST(auth.cache_size() == 0u);
}

BOOST_AUTO_TEST_CASE(forcing_does_not_override_a_remembered_retry_after)
{
    // tok-1 lives 2 s (served until 1.5 s, renewed from about 0.9 s); its
    // renewal is answered 429 with Retry-After: 60.
    std::atomic<int> requests{0};
    fault_server server(serving(requests, [](int n) {
        if (n == 1)
            return http("200 OK", R"({"access_token":"tok-1","token_type":"Bearer","expires_in":2})");
        return http("429 Too Many Requests", "{}", "Retry-After: 60\r\n");
    }));
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), retrying(server, 1));
    auto first = authorize(ctx, auth);
    BOOST_TEST_REQUIRE(!first->ec, first->ec.message());
    std::this_thread::sleep_for(1100ms);
    auto in_window = authorize(ctx, auth); // served at once; the renewal meets the 429
    BOOST_TEST_REQUIRE(!in_window->ec);
    BOOST_TEST(in_window->token.value() == "tok-1");
    BOOST_TEST(requests.load() == 2);
    BOOST_TEST(auth.stats()[metric::renewal_failed] == 1u);

    auto still = authorize(ctx, auth); // stale-if-error: still served
    BOOST_TEST(!still->ec);
    BOOST_TEST(still->token.value() == "tok-1");
    auto forced = authorize(ctx, auth, true);
    BOOST_TEST(forced->ec == error::too_many_requests, forced->ec.message());
    BOOST_TEST_REQUIRE(forced->diag.retry_after().has_value());
    BOOST_TEST(forced->diag.retry_after()->count() > 50);
    BOOST_TEST(requests.load() == 2); // nothing sent
}

BOOST_AUTO_TEST_SUITE_END()
