// One test body run through every completion style, against the real server.
#include "oidc_server.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/test/unit_test.hpp>

#include <functional>
#include <thread>

using namespace tetrapak;
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

/// What a style delivered: the code, the token, and the server's diagnostics
/// when the style gives access to them.
struct delivered {
    error_code ec;
    actor_token token;
    std::optional<diagnostics> diag;
    int calls = 0;
};

using style_fn = std::function<delivered(asio::io_context&, authorization_service&, const http_client_options&)>;

template <class Body>
void spawn(asio::io_context& ctx, Body body)
{
    asio::co_spawn(ctx, std::move(body), [](std::exception_ptr e) {
        if (e)
            std::rethrow_exception(e);
    });
}

const std::pair<const char*, style_fn> styles[] = {
    {"callback",
     [](asio::io_context& ctx, authorization_service& auth, const http_client_options& o) {
         delivered d;
         d.diag.emplace();
         auth.async_authorize(o, *d.diag, [&](error_code ec, actor_token t) {
             ++d.calls;
             d.ec = ec;
             d.token = std::move(t);
         });
         ctx.run();
         return d;
     }},
    {"use_awaitable",
     [](asio::io_context& ctx, authorization_service& auth, const http_client_options& o) {
         delivered d;
         spawn(ctx, [&]() -> asio::awaitable<void> {
             try {
                 d.token = co_await auth.async_authorize(o, asio::use_awaitable);
             } catch (const boost::system::system_error& e) {
                 d.ec = e.code();
             }
             ++d.calls;
         });
         ctx.run();
         return d;
     }},
    {"as_tuple",
     [](asio::io_context& ctx, authorization_service& auth, const http_client_options& o) {
         delivered d;
         spawn(ctx, [&]() -> asio::awaitable<void> {
             auto [ec, t] = co_await auth.async_authorize(o, asio::as_tuple(asio::use_awaitable));
             d.ec = ec;
             d.token = std::move(t);
             ++d.calls;
         });
         ctx.run();
         return d;
     }},
    {"redirect_error",
     [](asio::io_context& ctx, authorization_service& auth, const http_client_options& o) {
         delivered d;
         spawn(ctx, [&]() -> asio::awaitable<void> {
             error_code ec;
             d.token = co_await auth.async_authorize(o, asio::redirect_error(asio::use_awaitable, ec));
             d.ec = ec;
             ++d.calls;
         });
         ctx.run();
         return d;
     }},
    {"deferred",
     [](asio::io_context& ctx, authorization_service& auth, const http_client_options& o) {
         delivered d;
         auto op = auth.async_authorize(o, asio::deferred);
         ctx.run(); // nothing starts until the deferred op is launched
         ctx.restart();
         std::move(op)([&](error_code ec, actor_token t) {
             ++d.calls;
             d.ec = ec;
             d.token = std::move(t);
         });
         ctx.run();
         return d;
     }},
    {"deferred_awaited",
     [](asio::io_context& ctx, authorization_service& auth, const http_client_options& o) {
         delivered d;
         spawn(ctx, [&]() -> asio::awaitable<void> {
             auto [ec, t] = co_await auth.async_authorize(o, asio::as_tuple(asio::deferred));
             d.ec = ec;
             d.token = std::move(t);
             ++d.calls;
         });
         ctx.run();
         return d;
     }},
    {"use_future",
     [](asio::io_context& ctx, authorization_service& auth, const http_client_options& o) {
         delivered d;
         auto fut = auth.async_authorize(o, asio::use_future);
         std::thread runner([&] { ctx.run(); });
         try {
             d.token = fut.get();
         } catch (const boost::system::system_error& e) {
             d.ec = e.code();
         }
         ++d.calls;
         runner.join();
         return d;
     }},
    {"as_outcome",
     [](asio::io_context& ctx, authorization_service& auth, const http_client_options& o) {
         delivered d;
         spawn(ctx, [&]() -> asio::awaitable<void> {
             outcome<actor_token> r = co_await auth.async_authorize(o, as_outcome(asio::use_awaitable));
             if (r) {
                 d.token = *r;
                 d.diag.emplace();
             } else {
                 d.ec = r.error().code;
                 d.diag = r.error().diagnostics;
             }
             ++d.calls;
         });
         ctx.run();
         return d;
     }},
    {"as_outcome_callback",
     [](asio::io_context& ctx, authorization_service& auth, const http_client_options& o) {
         delivered d;
         auth.async_authorize(o, as_outcome([&](outcome<actor_token> r) {
                                  ++d.calls;
                                  if (r) {
                                      d.token = *r;
                                      d.diag.emplace();
                                  } else {
                                      d.ec = r.error().code;
                                      d.diag = r.error().diagnostics;
                                  }
                              }));
         ctx.run();
         return d;
     }},
    {"with_diagnostics",
     [](asio::io_context& ctx, authorization_service& auth, const http_client_options& o) {
         delivered d;
         spawn(ctx, [&]() -> asio::awaitable<void> {
             try {
                 d.token = co_await auth.async_authorize(o, with_diagnostics(asio::use_awaitable));
                 d.diag.emplace();
             } catch (const error_with_diagnostics& e) {
                 d.ec = e.code();
                 d.diag = e.get_diagnostics();
             }
             ++d.calls;
         });
         ctx.run();
         return d;
     }},
};

} // namespace

BOOST_AUTO_TEST_SUITE(completion_style)

BOOST_AUTO_TEST_CASE(success_in_every_style)
{
    auto cfg = test::basic_client(test::default_server());
    for (auto& [name, run] : styles) {
        BOOST_TEST_CONTEXT("style " << name)
        {
            asio::io_context ctx;
            authorization_service auth(ctx.get_executor(), cfg);
            auto d = run(ctx, auth, {});
            BOOST_TEST(d.calls == 1);
            BOOST_TEST(!d.ec, d.ec.message());
            BOOST_TEST(!d.token.empty());
            BOOST_TEST(d.token.token_type() == "Bearer");
            if (d.diag)
                BOOST_TEST(d.diag->empty());
        }
    }
}

BOOST_AUTO_TEST_CASE(server_error_in_every_style)
{
    auto cfg = test::basic_client(test::default_server());
    cfg.client_secret = "wrong";
    for (auto& [name, run] : styles) {
        BOOST_TEST_CONTEXT("style " << name)
        {
            asio::io_context ctx;
            authorization_service auth(ctx.get_executor(), cfg);
            auto d = run(ctx, auth, {});
            BOOST_TEST(d.calls == 1);
            BOOST_TEST(d.ec == oauth_errc::invalid_client);
            BOOST_TEST(d.token.empty());
            if (d.diag) {
                BOOST_TEST(d.diag->error_description() == "client authentication failed");
                BOOST_TEST(d.diag->http_status() == 401u);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(diagnostics_reach_every_style_that_promises_them)
{
    // callback with diagnostics&, as_outcome (both forms) and with_diagnostics
    int with_diag = 0;
    auto cfg = test::basic_client(test::default_server());
    cfg.client_secret = "wrong";
    for (auto& [name, run] : styles) {
        asio::io_context ctx;
        authorization_service auth(ctx.get_executor(), cfg);
        if (run(ctx, auth, {}).diag)
            ++with_diag;
    }
    BOOST_TEST(with_diag == 4);
}

BOOST_AUTO_TEST_CASE(with_diagnostics_what_carries_the_server_text)
{
    auto cfg = test::basic_client(test::default_server());
    cfg.client_secret = "Zq9-not-the-secret";
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    std::string what;
    spawn(ctx, [&]() -> asio::awaitable<void> {
        try {
            co_await auth.async_authorize({}, with_diagnostics(asio::use_awaitable));
        } catch (const std::exception& e) {
            what = e.what();
        }
    });
    ctx.run();
    BOOST_TEST(what.find("client authentication failed") != std::string::npos, what);
    BOOST_TEST(what.find("check client_id") != std::string::npos, what);
    BOOST_TEST(what.find("Zq9") == std::string::npos, what); // the secret never shows
}

BOOST_AUTO_TEST_SUITE_END()
