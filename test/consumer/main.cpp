// Uses the installed package: a missing client id fails before any I/O.
#include <tetrapak.hpp>

#include <boost/asio/io_context.hpp>

#include <iostream>

int main()
{
    boost::asio::io_context ctx;
    tetrapak::auth_config cfg;
    cfg.token_endpoint = "https://auth.example.com/oauth2/token";
    tetrapak::authorization_service auth(ctx.get_executor(), cfg);
    auth.async_authorize({}, [](boost::system::error_code ec, tetrapak::actor_token) {
        std::cout << "error=" << ec.category().name() << ':' << ec.value() << '\n';
    });
    ctx.run();
    std::cout << "version=" << TETRAPAK_VERSION_STRING << '\n';
}
