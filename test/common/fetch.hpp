// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_TEST_FETCH_HPP
#define TETRAPAK_TEST_FETCH_HPP

// One async_authorize on a fresh io_context, run to completion: what most
// integration tests need.

#include <tetrapak.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>

namespace tetrapak::test {

struct call_result {
    boost::system::error_code ec;
    actor_token token;
    diagnostics diag;
    int calls = 0;
    std::chrono::steady_clock::duration elapsed{};
};

/// One call on an existing service, run to completion: the io_context is
/// restarted and run until it stops; the handler ran once and no work is left.
inline std::shared_ptr<call_result> call(boost::asio::io_context& ctx, authorization_service& auth,
                                         const http_client_options& o = {})
{
    auto r = std::make_shared<call_result>();
    const auto t0 = std::chrono::steady_clock::now();
    auth.async_authorize(o, r->diag, [r, t0](boost::system::error_code ec, actor_token t) {
        ++r->calls;
        r->ec = ec;
        r->token = std::move(t);
        r->elapsed = std::chrono::steady_clock::now() - t0;
    });
    ctx.restart();
    ctx.run_for(std::chrono::seconds(20));
    BOOST_TEST(ctx.stopped());
    BOOST_TEST(r->calls == 1);
    return r;
}

using fetched = call_result;

/// One call on a fresh service and io_context (see `call`).
inline fetched fetch(const auth_config& cfg, const actor_token& subject = {}, const grant_resolver& resolver = {})
{
    boost::asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    if (resolver)
        auth.set_grant_resolver(resolver);
    http_client_options o;
    o.actor_token = subject;
    return *call(ctx, auth, o);
}

} // namespace tetrapak::test

#endif
