// A request handler that exchanges the caller's token (RFC 8693) for a token
// to call the next service, with the SDK's Automatic grant: system callers get
// a client-credentials token, users an exchanged one.
//
//   token_exchange_handler CONFIG.json SERVICE "Bearer <caller token>"
#include <tetrapak.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdlib>
#include <iostream>
#include <sstream>

namespace asio = boost::asio;

// What a Beast handler does with the incoming Authorization header.
asio::awaitable<std::string> handle_request(tetrapak::authorization_service& auth,
                                            std::shared_ptr<const tetrapak::auth_config> downstream,
                                            std::string_view incoming_authorization)
{
    tetrapak::http_client_options options;
    options.auth_config = std::move(downstream);
    options.actor_token = tetrapak::actor_token(std::string(incoming_authorization)); // "Bearer " is stripped
    auto token = co_await auth.async_authorize(options, tetrapak::as_outcome(asio::use_awaitable));
    if (!token) {
        if (token.error().code == tetrapak::error::no_authorization)
            co_return "no token needed";
        std::cerr << "authorization failed: " << token.error() << '\n';
        co_return "502 Bad Gateway";
    }
    // Set it on the outgoing request only: req.set(http::field::authorization, token->authorization_header());
    std::ostringstream os;
    os << "calling downstream with " << *token;
    co_return os.str();
}

int main(int argc, char** argv)
{
    if (argc < 4) {
        std::cerr << "usage: " << argv[0] << " CONFIG.json SERVICE \"Bearer <caller token>\" [CA_FILE]\n";
        return 2;
    }
    tetrapak::diagnostics diag;
    auto settings = tetrapak::load_settings_file(argv[1], diag);
    if (!settings) {
        std::cerr << "configuration: " << tetrapak::failure{settings.error(), diag} << '\n';
        return 2;
    }
    auto cfg = settings->resolve(argv[2], "", [](const char* n) { return std::getenv(n); }, diag);
    if (!cfg) {
        std::cerr << "configuration: " << tetrapak::failure{cfg.error(), diag} << '\n';
        return 2;
    }
    if (argc > 4)
        cfg->tls.ca_file = argv[4];
    auto downstream = std::make_shared<const tetrapak::auth_config>(*cfg);

    asio::io_context ctx;
    tetrapak::authorization_service auth(ctx.get_executor(), *cfg);
    asio::co_spawn(
        ctx, [&]() -> asio::awaitable<void> { std::cout << co_await handle_request(auth, downstream, argv[3]) << '\n'; },
        asio::detached);
    ctx.run();
}
