// Fetches a client-credentials token with plain callbacks (no coroutines),
// then asks again to show the second answer coming from the token cache.
//
//   callback_style TOKEN_URL CLIENT_ID CLIENT_SECRET|- CA_FILE
//
// Pass "-" as CLIENT_SECRET to read it from the TETRAPAK_CLIENT_SECRET
// environment variable. Exits 0 on success, 1 on failure, 2 on bad usage.
#include <tetrapak.hpp>

#include <boost/asio/io_context.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

namespace asio = boost::asio;

int main(int argc, char** argv)
{
    if (argc != 5) {
        std::cerr << "usage: " << argv[0] << " TOKEN_URL CLIENT_ID CLIENT_SECRET|- CA_FILE\n";
        return 2;
    }
    tetrapak::auth_config cfg;
    cfg.token_endpoint = argv[1];
    cfg.client_id = argv[2];
    const char* env_secret = std::getenv("TETRAPAK_CLIENT_SECRET");
    cfg.client_secret = std::string(argv[3]) == "-" && env_secret ? env_secret : argv[3];
    cfg.tls.ca_file = argv[4];

    try {
        asio::io_context ctx;
        tetrapak::authorization_service auth(ctx.get_executor(), cfg);

        // Filled in when a call fails: the server's error, error_description, HTTP status...
        // It is passed by reference, so it must outlive the operations (here: until run() returns).
        tetrapak::diagnostics diag;
        tetrapak::actor_token first;
        int status = 1;

        auto on_failure = [&](const char* what, boost::system::error_code ec) {
            // failure prints the code, its message and the diagnostics on one line.
            std::cout << what << " failed: " << tetrapak::failure{ec, diag} << '\n';
        };

        // The handler always runs from ctx.run(), never inside async_authorize itself.
        // Empty options: use the service's own configuration (client credentials).
        auth.async_authorize({}, diag, [&](boost::system::error_code ec, tetrapak::actor_token token) {
            if (ec)
                return on_failure("first request", ec);
            first = token;
            std::cout << "first request: got " << token << " (from the token endpoint)\n";

            // Chain the next call from the handler: the token is now cached.
            auth.async_authorize({}, diag, [&](boost::system::error_code ec2, tetrapak::actor_token again) {
                if (ec2)
                    return on_failure("second request", ec2);
                auto stats = auth.stats();
                bool cached = again == first && stats[tetrapak::metric::cache_hit] == 1;
                std::cout << "second request: got " << again << '\n'
                          << "  same token: " << (again == first ? "yes" : "no")
                          << ", cache_hit=" << stats[tetrapak::metric::cache_hit]
                          << ", cache_miss=" << stats[tetrapak::metric::cache_miss] << '\n'
                          << (cached ? "served from the cache\n" : "NOT served from the cache\n");
                status = cached ? 0 : 1;
            });
        });

        ctx.run(); // returns when both handlers have run
        return status;
    } catch (const tetrapak::error_with_diagnostics& e) {
        // The constructor refuses unusable TLS settings, e.g. a CA_FILE that is not PEM.
        std::cout << "cannot start: " << tetrapak::failure{e.code(), e.get_diagnostics()} << '\n';
        return 1;
    }
}
