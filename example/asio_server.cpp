// A plain Asio TCP server (no HTTP) that needs a token for each request it
// handles: every line a client sends is answered with one line,
//
//   OK <token fingerprint> <cache: hit|miss>     or     ERROR <why>
//
// and the line QUIT stops the server (handy for tests). Where a real service
// would call the next service with token.authorization_header(), this one
// only reports which token it would use.
//
//   asio_server PORT TOKEN_URL CLIENT_ID CLIENT_SECRET|- CA_FILE
//
// Listens on 127.0.0.1:PORT (0: any free port) and prints "LISTENING <port>".
// Pass "-" as CLIENT_SECRET to read it from TETRAPAK_CLIENT_SECRET.
//
// A client that disconnects abandons its session: the token request it was
// waiting for is cancelled (other clients waiting for the same token still
// get it).
#include <tetrapak.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <sstream>
#include <string>

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators; // a || b
using line_channel = asio::experimental::channel<void(boost::system::error_code, std::string)>;

// Reads newline-terminated lines and hands them to the answering side.
// Returns when the client closes the connection (or it fails).
asio::awaitable<void> read_lines(tcp::socket& socket, line_channel& lines)
{
    std::string buffer;
    for (;;) {
        boost::system::error_code ec;
        std::size_t n =
            co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer, 4096), '\n',
                                            asio::redirect_error(asio::use_awaitable, ec));
        if (ec)
            co_return; // EOF, reset, or a line longer than 4096 bytes: the session is over
        std::string line = buffer.substr(0, n - 1);
        buffer.erase(0, n);
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        co_await lines.async_send(boost::system::error_code{}, std::move(line), asio::use_awaitable);
    }
}

// Answers the lines in order. Returns on QUIT (after stopping the server).
asio::awaitable<void> answer_lines(tcp::socket& socket, line_channel& lines, tetrapak::authorization_service& auth,
                                   asio::io_context& ctx)
{
    for (;;) {
        std::string line = co_await lines.async_receive(asio::use_awaitable);
        if (line == "QUIT") {
            co_await asio::async_write(socket, asio::buffer("BYE\n", 4), asio::use_awaitable);
            ctx.stop();
            co_return;
        }
        // A real server would look at the request here; this one needs the
        // same client-credentials token for every line.
        auto before = auth.stats()[tetrapak::metric::cache_hit];
        // as_outcome: no exception for a refused request, and the server's
        // error_description is kept. If this coroutine is cancelled (the
        // client went away), the request is cancelled with it.
        tetrapak::outcome<tetrapak::actor_token> token =
            co_await auth.async_authorize({}, tetrapak::as_outcome(asio::use_awaitable));
        // (Counted service-wide: exact while one request is handled at a time.)
        bool hit = auth.stats()[tetrapak::metric::cache_hit] > before;

        std::ostringstream reply;
        if (token)
            reply << "OK " << token->fingerprint() << ' ' << (hit ? "hit" : "miss") << '\n';
        else
            reply << "ERROR " << token.error() << '\n'; // code, message and the server's diagnostics, one line
        co_await asio::async_write(socket, asio::buffer(reply.str()), asio::use_awaitable);
    }
}

asio::awaitable<void> session(tcp::socket socket, tetrapak::authorization_service& auth, asio::io_context& ctx)
{
    line_channel lines(socket.get_executor(), 16);
    // Read and answer at the same time, so that a disconnect is seen even
    // while a token is awaited. `||` ends when either side ends and cancels
    // the other: a closed connection cancels the pending async_authorize.
    co_await (read_lines(socket, lines) || answer_lines(socket, lines, auth, ctx));
    std::cerr << "session ended\n";
}

asio::awaitable<void> listen(tcp::acceptor& acceptor, tetrapak::authorization_service& auth, asio::io_context& ctx)
{
    for (;;) {
        tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
        asio::co_spawn(ctx, session(std::move(socket), auth, ctx), [](std::exception_ptr e) {
            try {
                if (e)
                    std::rethrow_exception(e);
            } catch (const std::exception& x) {
                std::cerr << "session failed: " << x.what() << '\n'; // e.g. the client vanished mid-write
            }
        });
    }
}

int main(int argc, char** argv)
{
    if (argc != 6) {
        std::cerr << "usage: " << argv[0] << " PORT TOKEN_URL CLIENT_ID CLIENT_SECRET|- CA_FILE\n";
        return 2;
    }
    tetrapak::auth_config cfg;
    cfg.token_endpoint = argv[2];
    cfg.client_id = argv[3];
    const char* env_secret = std::getenv("TETRAPAK_CLIENT_SECRET");
    cfg.client_secret = std::string(argv[4]) == "-" && env_secret ? env_secret : argv[4];
    cfg.tls.ca_file = argv[5];

    try {
        asio::io_context ctx;
        // Throws tetrapak::error_with_diagnostics for unusable TLS settings (e.g. CA_FILE).
        tetrapak::authorization_service auth(ctx.get_executor(), cfg);

        // Throws boost::system::system_error when the port is taken.
        tcp::acceptor acceptor(ctx, {asio::ip::make_address("127.0.0.1"),
                                     static_cast<unsigned short>(std::strtoul(argv[1], nullptr, 10))});
        std::cout << "LISTENING " << acceptor.local_endpoint().port() << std::endl; // endl: flush for the caller

        asio::co_spawn(ctx, listen(acceptor, auth, ctx), [](std::exception_ptr e) {
            if (e)
                std::rethrow_exception(e); // accept failed: ctx.run() throws it
        });
        // Ctrl-C / SIGTERM stop the server like QUIT does.
        asio::signal_set signals(ctx, SIGINT, SIGTERM);
        signals.async_wait([&](boost::system::error_code, int) { ctx.stop(); });
        ctx.run();
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "asio_server: " << e.what() << '\n'; // error_with_diagnostics: what() includes them
        return 1;
    }
}
