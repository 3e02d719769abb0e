// Per-operation cancellation (the SDK's CancellationToken) at every step, for
// every cancellation type, against the real server; plus coroutine
// cancellation through awaitable operators against a stalling server.
#include "fault_server.hpp"
#include "oidc_server.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <thread>

using namespace tetrapak;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

const asio::cancellation_type types[] = {asio::cancellation_type::terminal, asio::cancellation_type::partial,
                                         asio::cancellation_type::total};

const char* name(asio::cancellation_type t)
{
    switch (t) {
    case asio::cancellation_type::terminal: return "terminal";
    case asio::cancellation_type::partial: return "partial";
    case asio::cancellation_type::total: return "total";
    default: return "?";
    }
}

struct run_result {
    bool emitted = false;
    int calls = 0;
    error_code ec;
    actor_token token;
    bool drained = false;
};

/// Emits `type` when `target` starts (finished == false) or right after it
/// finished, before the operation looks at the result (finished == true:
/// the "handler already queued" case).
run_result cancel_at(step target, bool finished, asio::cancellation_type type)
{
    auto cfg = test::basic_client(test::default_server());
    if (target == step::resolve)
        cfg.token_endpoint = "https://localhost:" + std::to_string(test::default_server().port()) + "/token";
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    asio::cancellation_signal sig;
    run_result r;
    auth.set_trace([&](const trace_event& e) {
        if (!r.emitted && e.step == target && e.finished == finished) {
            r.emitted = true;
            sig.emit(type);
        }
    });
    auth.async_authorize({}, asio::bind_cancellation_slot(sig.slot(), [&](error_code ec, actor_token t) {
                             ++r.calls;
                             r.ec = ec;
                             r.token = std::move(t);
                         }));
    ctx.run_for(30s);
    r.drained = ctx.stopped(); // no work left behind
    return r;
}

} // namespace

BOOST_AUTO_TEST_SUITE(cancellation)

BOOST_AUTO_TEST_CASE(every_step_every_type)
{
    const step steps[] = {step::resolve, step::connect, step::handshake, step::write,
                          step::read_header, step::read_body, step::parse};
    for (auto s : steps) {
        for (bool finished : {false, true}) {
            for (auto type : types) {
                BOOST_TEST_CONTEXT("step " << to_string(s) << (finished ? " finished" : " started") << ", "
                                           << name(type))
                {
                    auto r = cancel_at(s, finished, type);
                    BOOST_TEST_REQUIRE(r.emitted);
                    BOOST_TEST(r.calls == 1);
                    BOOST_TEST(r.ec == asio::error::operation_aborted);
                    BOOST_TEST(r.token.empty());
                    BOOST_TEST(r.drained);
                }
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(signal_without_cancellation_type_is_ignored)
{
    auto cfg = test::basic_client(test::default_server());
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    asio::cancellation_signal sig;
    auth.set_trace([&](const trace_event& e) {
        if (e.step == step::write && !e.finished)
            sig.emit(asio::cancellation_type::none);
    });
    error_code got = asio::error::would_block;
    auth.async_authorize({}, asio::bind_cancellation_slot(sig.slot(), [&](error_code ec, actor_token) { got = ec; }));
    ctx.run();
    BOOST_TEST(!got, got.message());
}

BOOST_AUTO_TEST_CASE(emit_after_completion_is_harmless)
{
    auto cfg = test::basic_client(test::default_server());
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    asio::cancellation_signal sig;
    error_code got = asio::error::would_block;
    int calls = 0;
    auth.async_authorize({}, asio::bind_cancellation_slot(sig.slot(), [&](error_code ec, actor_token) {
                             got = ec;
                             ++calls;
                         }));
    ctx.run();
    BOOST_TEST(!got);
    sig.emit(asio::cancellation_type::terminal); // harmless after completion
    ctx.restart();
    ctx.run();
    BOOST_TEST(calls == 1);
}

BOOST_AUTO_TEST_CASE(handler_executor_is_kept_busy_until_completion)
{
    // The service runs on `io` (another thread); the handler is bound to
    // `app`. app.run() must wait for the handler: the operation holds work on
    // the handler's executor.
    auto cfg = test::basic_client(test::default_server());
    asio::io_context io, app;
    authorization_service auth(io.get_executor(), cfg);
    int calls = 0;
    error_code got;
    auth.async_authorize({}, asio::bind_executor(app.get_executor(), [&](error_code ec, actor_token) {
                             ++calls;
                             got = ec;
                         }));
    std::thread t([&] { io.run(); });
    app.run();
    t.join();
    BOOST_TEST(calls == 1);
    BOOST_TEST(!got, got.message());
}

BOOST_AUTO_TEST_CASE(awaitable_or_timer_cancels_a_stalled_request)
{
    using namespace asio::experimental::awaitable_operators;
    test::fault_server stalling([](test::fault_server::socket& s) {
        auto tls = test::server_tls_context();
        test::tls_stream stream(s, tls);
        stream.handshake(asio::ssl::stream_base::server);
        test::read_request(stream);
        test::stall(s); // never answers
    });
    auth_config cfg = test::basic_client(test::default_server());
    cfg.token_endpoint = stalling.url();
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    std::size_t winner = 99;
    auto t0 = std::chrono::steady_clock::now();
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            asio::steady_timer timer(ctx, 200ms);
            auto v = co_await (auth.async_authorize({}, asio::use_awaitable) || timer.async_wait(asio::use_awaitable));
            winner = v.index();
        },
        [](std::exception_ptr e) {
            if (e)
                std::rethrow_exception(e);
        });
    ctx.run_for(10s);
    BOOST_TEST(ctx.stopped());
    BOOST_TEST(winner == 1u);
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 5s));
}

BOOST_AUTO_TEST_SUITE_END()
