// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_TEST_FETCH_HPP
#define TETRAPAK_TEST_FETCH_HPP

// One async_authorize on a fresh io_context, run to completion: what most
// integration tests need.

#include <tetrapak.hpp>

#include <boost/asio/io_context.hpp>

namespace tetrapak::test {

struct fetched {
    boost::system::error_code ec;
    actor_token token;
    diagnostics diag;
    int calls = 0;
};

inline fetched fetch(const auth_config& cfg, const actor_token& subject = {}, const grant_resolver& resolver = {})
{
    boost::asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    if (resolver)
        auth.set_grant_resolver(resolver);
    fetched f;
    http_client_options o;
    o.actor_token = subject;
    auth.async_authorize(o, f.diag, [&](boost::system::error_code ec, actor_token t) {
        ++f.calls;
        f.ec = ec;
        f.token = std::move(t);
    });
    ctx.run();
    return f;
}

} // namespace tetrapak::test

#endif
