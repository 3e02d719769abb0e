// Per-step timeouts, each with its own error code, against in-process servers
// that stall at a chosen point.
#include "fault_server.hpp"
#include "oidc_server.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace tetrapak;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using boost::system::error_code;
using test::fault_server;

namespace {

auth_config fast_config(const std::string& url)
{
    auto c = test::fault_client(url);
    c.timeouts.connect = 300ms;
    c.timeouts.handshake = 300ms;
    c.timeouts.request = 300ms;
    c.timeouts.response_header = 300ms;
    c.timeouts.response_body = 300ms;
    return c;
}

struct timed {
    error_code ec;
    std::chrono::steady_clock::duration elapsed;
    int calls = 0;
};

timed run(const auth_config& cfg)
{
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    timed t;
    auto t0 = std::chrono::steady_clock::now();
    auth.async_authorize({}, [&](error_code ec, actor_token) {
        ++t.calls;
        t.ec = ec;
        t.elapsed = std::chrono::steady_clock::now() - t0;
    });
    ctx.run_for(20s);
    BOOST_TEST(ctx.stopped());
    return t;
}

void expect_timeout(const timed& t, error e)
{
    BOOST_TEST(t.calls == 1);
    BOOST_TEST(t.ec == e, t.ec.message());
    BOOST_TEST((t.elapsed >= 290ms));
    BOOST_TEST((t.elapsed < 3s));
}

} // namespace

BOOST_AUTO_TEST_SUITE(timeout)

BOOST_AUTO_TEST_CASE(connect)
{
    // A listener with a full accept queue that never accepts: further SYNs
    // are dropped, so connect() neither succeeds nor fails.
    asio::io_context ioc;
    asio::ip::tcp::acceptor acc(ioc, asio::ip::tcp::v4());
    acc.bind({asio::ip::make_address("127.0.0.1"), 0});
    acc.listen(0);
    auto port = acc.local_endpoint().port();
    std::vector<int> fillers;
    for (int i = 0; i < 4; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        (void)::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa); // EINPROGRESS
        fillers.push_back(fd);
    }
    expect_timeout(run(fast_config("https://127.0.0.1:" + std::to_string(port) + "/token")), error::connect_timeout);
    for (int fd : fillers)
        ::close(fd);
}

BOOST_AUTO_TEST_CASE(handshake)
{
    fault_server server([](fault_server::socket& s) { test::stall(s); });
    expect_timeout(run(fast_config(server.url())), error::handshake_timeout);
}

BOOST_AUTO_TEST_CASE(response_header)
{
    fault_server server([](fault_server::socket& s) {
        auto tls = test::server_tls_context();
        test::tls_stream stream(s, tls);
        stream.handshake(asio::ssl::stream_base::server);
        test::read_request(stream);
        test::write_raw(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"); // headers never end
        test::stall(s);
    });
    expect_timeout(run(fast_config(server.url())), error::response_header_timeout);
}

BOOST_AUTO_TEST_CASE(response_body)
{
    fault_server server([](fault_server::socket& s) {
        auto tls = test::server_tls_context();
        test::tls_stream stream(s, tls);
        stream.handshake(asio::ssl::stream_base::server);
        test::read_request(stream);
        test::write_raw(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"acc");
        test::stall(s);
    });
    expect_timeout(run(fast_config(server.url())), error::response_body_timeout);
}

BOOST_AUTO_TEST_SUITE_END()
