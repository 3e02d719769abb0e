// Fetches client-credentials tokens with co_await and prints them (redacted).
//
//   client_credentials TOKEN_URL CLIENT_ID CLIENT_SECRET [CA_FILE] [RESOURCE]
//
// The secret may also come from the TETRAPAK_CLIENT_SECRET environment variable
// (pass "-" as CLIENT_SECRET).
#include <tetrapak.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdlib>
#include <iostream>

namespace asio = boost::asio;

namespace {
int run(int argc, char** argv)
{
    if (argc < 4) {
        std::cerr << "usage: " << argv[0] << " TOKEN_URL CLIENT_ID CLIENT_SECRET|- [CA_FILE] [RESOURCE]\n";
        return 2;
    }
    tetrapak::auth_config cfg;
    cfg.token_endpoint = argv[1];
    cfg.client_id = argv[2];
    const char* env_secret = std::getenv("TETRAPAK_CLIENT_SECRET");
    cfg.client_secret = std::string(argv[3]) == "-" && env_secret ? env_secret : argv[3];
    if (argc > 4)
        cfg.tls.ca_file = argv[4];
    if (argc > 5)
        cfg.resource = argv[5];

    asio::io_context ctx;
    tetrapak::authorization_service auth(ctx.get_executor(), cfg);
    auth.set_trace([](const tetrapak::trace_event& e) {
        if (e.finished)
            std::cout << "  step " << e << '\n';
    });

    int failures = 0;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            for (auto method : {tetrapak::client_auth_method::client_secret_basic,
                                tetrapak::client_auth_method::client_secret_post}) {
                auto per_call = std::make_shared<tetrapak::auth_config>(cfg);
                per_call->auth_method = method;
                std::cout << "client credentials with " << method << ":\n";
                auto start = std::chrono::steady_clock::now();
                // as_outcome: never throws, carries the server's error_description
                tetrapak::outcome<tetrapak::actor_token> r =
                    co_await auth.async_authorize({per_call}, tetrapak::as_outcome(asio::use_awaitable));
                auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
                if (r) {
                    std::cout << "  got " << *r << " in " << us.count() << " us\n";
                    if (r->is_jwt())
                        std::cout << "  JWT claims: aud=" << r->string_claim("aud").value_or("?")
                                  << " client_id=" << r->string_claim("client_id").value_or("?") << '\n';
                } else {
                    ++failures;
                    std::cout << "  failed: " << r.error() << '\n';
                }
            }
        },
        asio::detached);
    ctx.run();
    return failures ? 1 : 0;
}
} // namespace

int main(int argc, char** argv)
{
    try {
        return run(argc, argv);
    } catch (const tetrapak::error_with_diagnostics& e) { // unusable TLS settings (e.g. a CA file that is not PEM)
        std::cerr << e.what() << '\n';
        return 1;
    }
}
