// Discovery against the real oidc-provider: the token endpoint comes from the
// document, one fetch is shared by concurrent callers, cached for its TTL,
// cancellable, bounded by the timeouts, and its issuer is checked.
#include "oidc_server.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <list>

using namespace tetrapak;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

auth_config discovering(const test::oidc_server& server)
{
    auto cfg = test::basic_client(server);
    cfg.token_endpoint.clear();
    cfg.discovery_document_url = server.issuer() + "/.well-known/openid-configuration";
    return cfg;
}

struct result {
    int calls = 0;
    error_code ec;
    actor_token token;
    diagnostics diag;
};

} // namespace

BOOST_AUTO_TEST_SUITE(discovery)

BOOST_AUTO_TEST_CASE(token_endpoint_from_the_document_and_cached)
{
    auto& server = test::default_server();
    server.reset_stats();
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), discovering(server));
    std::vector<step> steps;
    auth.set_trace([&](const trace_event& e) {
        if (!e.finished)
            steps.push_back(e.step);
    });
    result a, b;
    auth.async_authorize({}, a.diag, [&](error_code ec, actor_token t) { a.ec = ec, a.token = t, ++a.calls; });
    ctx.run();
    ctx.restart();
    auth.async_authorize({}, b.diag, [&](error_code ec, actor_token t) { b.ec = ec, b.token = t, ++b.calls; });
    ctx.run();
    BOOST_TEST_REQUIRE(!a.ec, a.ec.message() << ' ' << a.diag);
    BOOST_TEST_REQUIRE(!b.ec, b.ec.message() << ' ' << b.diag);
    BOOST_TEST(server.stat("discovery_requests") == 1);
    BOOST_TEST(server.stat("token_requests") == 1); // the second call is a cache hit
    BOOST_TEST((a.token == b.token));
    BOOST_TEST_REQUIRE(!steps.empty());
    BOOST_TEST((steps.front() == step::discover));
}

BOOST_AUTO_TEST_CASE(concurrent_callers_share_one_fetch)
{
    test::oidc_server server({.extra_args = {"--slow-discovery", "300"}});
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), discovering(server));
    std::vector<result> results(20);
    for (auto& r : results)
        auth.async_authorize({}, r.diag, [&r](error_code ec, actor_token t) { r.ec = ec, r.token = t, ++r.calls; });
    ctx.run();
    for (auto& r : results) {
        BOOST_TEST(r.calls == 1);
        BOOST_TEST(!r.ec, r.ec.message() << ' ' << r.diag);
    }
    BOOST_TEST(server.stat("discovery_requests") == 1);
    BOOST_TEST(server.stat("token_requests") == 1); // one key: one fetch (single-flight)
}

BOOST_AUTO_TEST_CASE(ttl_expiry_fetches_again)
{
    auto& server = test::default_server();
    server.reset_stats();
    auto cfg = discovering(server);
    cfg.discovery_ttl = 0s;
    cfg.cache.enabled = false; // a token per call, so each call needs the document
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    for (int i = 0; i < 2; ++i) {
        error_code got = asio::error::would_block;
        auth.async_authorize({}, [&](error_code ec, actor_token) { got = ec; });
        ctx.restart();
        ctx.run();
        BOOST_TEST(!got, got.message());
    }
    BOOST_TEST(server.stat("discovery_requests") == 2);
}

BOOST_AUTO_TEST_CASE(a_cancelled_waiter_leaves_the_shared_fetch_to_the_others)
{
    test::oidc_server server({.extra_args = {"--slow-discovery", "300"}});
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), discovering(server));
    asio::cancellation_signal sig;
    result cancelled, kept;
    auth.async_authorize({}, cancelled.diag,
                         asio::bind_cancellation_slot(sig.slot(), [&](error_code ec, actor_token t) {
                             cancelled.ec = ec, cancelled.token = t, ++cancelled.calls;
                         }));
    auth.async_authorize({}, kept.diag, [&](error_code ec, actor_token t) { kept.ec = ec, kept.token = t, ++kept.calls; });
    ctx.run_for(50ms);
    sig.emit(asio::cancellation_type::terminal);
    ctx.run_for(50ms);
    BOOST_TEST(cancelled.calls == 1); // at once, while discovery is still in flight
    BOOST_TEST(cancelled.ec == asio::error::operation_aborted);
    ctx.run();
    BOOST_TEST(kept.calls == 1);
    BOOST_TEST(!kept.ec, kept.ec.message() << ' ' << kept.diag);
    BOOST_TEST(server.stat("discovery_requests") == 1);
}

BOOST_AUTO_TEST_CASE(cancelling_every_waiter_cancels_the_fetch)
{
    test::oidc_server server({.extra_args = {"--slow-discovery", "5000"}});
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), discovering(server));
    asio::cancellation_signal sig;
    result r;
    auth.async_authorize({}, asio::bind_cancellation_slot(sig.slot(), [&](error_code ec, actor_token) { r.ec = ec, ++r.calls; }));
    ctx.run_for(100ms);
    auto t0 = std::chrono::steady_clock::now();
    sig.emit(asio::cancellation_type::terminal);
    ctx.run_for(10s);
    BOOST_TEST(ctx.stopped()); // the discovery fetch itself was cancelled: no work left
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 2s));
    BOOST_TEST(r.calls == 1);
    BOOST_TEST(r.ec == asio::error::operation_aborted);
}

BOOST_AUTO_TEST_CASE(slow_discovery_hits_the_timeout)
{
    test::oidc_server server({.extra_args = {"--slow-discovery", "3000"}});
    auto cfg = discovering(server);
    cfg.timeouts.response_header = 300ms;
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    result r;
    auth.async_authorize({}, [&](error_code ec, actor_token) { r.ec = ec, ++r.calls; });
    ctx.run_for(10s);
    BOOST_TEST(r.calls == 1);
    BOOST_TEST(r.ec == error::response_header_timeout);
}

BOOST_AUTO_TEST_CASE(issuer_mismatch_is_refused)
{
    auto& server = test::default_server();
    auto cfg = discovering(server);
    // the server's issuer is https://127.0.0.1:PORT, not https://localhost:PORT
    cfg.discovery_document_url = "https://localhost:" + std::to_string(server.port()) + "/.well-known/openid-configuration";
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    result r;
    auth.async_authorize({}, r.diag, [&](error_code ec, actor_token) { r.ec = ec, ++r.calls; });
    ctx.run();
    BOOST_TEST(r.ec == error::discovery_issuer_mismatch);
    BOOST_TEST(r.diag.client_message().find("issuer") != std::string_view::npos, r.diag); // the detail survives
}

BOOST_AUTO_TEST_CASE(a_caller_arriving_after_the_last_waiter_left_is_not_cancelled)
{
    // A leaves a discovery fetch it was alone on; B arrives before that fetch
    // is torn down. B must get a fetch of its own, not A's cancelled one.
    test::oidc_server server({.extra_args = {"--slow-discovery", "200"}});
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), discovering(server));
    asio::cancellation_signal sig;
    result a, b;
    auth.async_authorize({}, asio::bind_cancellation_slot(sig.slot(), [&](error_code ec, actor_token) { a.ec = ec, ++a.calls; }));
    ctx.run_for(50ms);
    sig.emit(asio::cancellation_type::terminal);
    auth.async_authorize({}, b.diag, [&](error_code ec, actor_token t) { b.ec = ec, b.token = t, ++b.calls; });
    ctx.run();
    BOOST_TEST(a.ec == asio::error::operation_aborted);
    BOOST_TEST(b.calls == 1);
    BOOST_TEST(!b.ec, b.ec.message() << ' ' << b.diag);
}

BOOST_AUTO_TEST_CASE(cancel_while_the_cached_document_is_handed_over_sends_nothing)
{
    auto& server = test::default_server();
    asio::io_context ctx;
    auto cfg = discovering(server);
    cfg.cache.enabled = false; // the second call must need a token request
    authorization_service auth(ctx.get_executor(), cfg);
    error_code first = asio::error::would_block;
    auth.async_authorize({}, [&](error_code ec, actor_token) { first = ec; }); // fills the discovery cache
    ctx.run();
    BOOST_TEST_REQUIRE(!first);
    server.reset_stats();
    ctx.restart();
    asio::cancellation_signal sig;
    result r;
    auth.async_authorize({}, asio::bind_cancellation_slot(sig.slot(), [&](error_code ec, actor_token) { r.ec = ec, ++r.calls; }));
    sig.emit(asio::cancellation_type::terminal); // before the job has run at all
    ctx.run_for(10s);
    BOOST_TEST(ctx.stopped());
    BOOST_TEST(r.calls == 1);
    BOOST_TEST(r.ec == asio::error::operation_aborted);
    BOOST_TEST(server.stat("token_requests") == 0); // the request was never sent
}

BOOST_AUTO_TEST_CASE(auth_method_from_the_document)
{
    auto& server = test::default_server();
    diagnostics d;
    auto cfg = discovering(server);
    cfg.client_id = "jwt-es256-client";
    cfg.client_secret = "";
    cfg.auth_method = client_auth_method::client_secret_basic; // overridden by discovery
    cfg.auth_method_from_discovery = true;
    cfg.client_key = signing_key::load_pem_file(test::cert_dir() + "/client-jwt-es256.key", "", d).value();
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    result r;
    auth.async_authorize({}, r.diag, [&](error_code ec, actor_token) { r.ec = ec, ++r.calls; });
    ctx.run();
    BOOST_TEST(!r.ec, r.ec.message() << ' ' << r.diag);
}

BOOST_AUTO_TEST_SUITE_END()
