// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
// Self-test of the proxy harness (common/proxy_server): plain Asio/Beast, no library code.
#include "oidc_server.hpp"
#include "proxy_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>

#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using tetrapak::test::default_server;
using tetrapak::test::oidc_server;
using tetrapak::test::proxy_options;
using tetrapak::test::proxy_server;

const asio::ip::address loopback = asio::ip::make_address("127.0.0.1");

std::string basic(const std::string& user, const std::string& password)
{
    std::string plain = user + ":" + password;
    std::string out(4 * ((plain.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(plain.data()), static_cast<int>(plain.size()));
    out.resize(static_cast<std::size_t>(n));
    return "Basic " + out;
}

/// The proxy's answer to CONNECT 127.0.0.1:target; on 200, `socket` is the tunnel.
struct connect_reply {
    unsigned status = 0;
    std::string proxy_authenticate;
    tcp::socket socket;
};

connect_reply open_tunnel(asio::io_context& ctx, const proxy_server& proxy, unsigned short target,
                          const std::string& proxy_authorization = {})
{
    connect_reply r{0, {}, tcp::socket(ctx)};
    r.socket.connect({loopback, proxy.port()});
    std::string authority = "127.0.0.1:" + std::to_string(target);
    http::request<http::empty_body> req(http::verb::connect, authority, 11);
    req.set(http::field::host, authority);
    if (!proxy_authorization.empty())
        req.set(http::field::proxy_authorization, proxy_authorization);
    http::write(r.socket, req);
    beast::flat_buffer buf;
    http::response_parser<http::empty_body> parser;
    parser.skip(true); // a CONNECT reply's header is all there is before the tunnel
    http::read_header(r.socket, buf, parser);
    r.status = parser.get().result_int();
    r.proxy_authenticate = std::string(parser.get()[http::field::proxy_authenticate]);
    if (r.status == 200)
        BOOST_TEST(buf.size() == 0u); // nothing of the tunnel was swallowed
    return r;
}

/// TLS (verifying the test CA and 127.0.0.1) and GET discovery over an open tunnel.
http::response<http::string_body> get_discovery(tcp::socket& tunnel, const oidc_server& server)
{
    asio::ssl::context tls(asio::ssl::context::tls_client);
    tls.load_verify_file(oidc_server::ca_file());
    tls.set_verify_mode(asio::ssl::verify_peer);
    tls.set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
    asio::ssl::stream<tcp::socket&> stream(tunnel, tls);
    stream.handshake(asio::ssl::stream_base::client);
    http::request<http::empty_body> req(http::verb::get, "/.well-known/openid-configuration", 11);
    req.set(http::field::host, "127.0.0.1:" + std::to_string(server.port()));
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res);
    return res;
}

void expect_discovery_through(tcp::socket& tunnel)
{
    const oidc_server& server = default_server();
    auto res = get_discovery(tunnel, server);
    BOOST_TEST(res.result_int() == 200u);
    BOOST_TEST(res.body().find("\"issuer\":\"" + server.issuer() + "\"") != std::string::npos);
}

} // namespace

BOOST_AUTO_TEST_SUITE(proxy_harness)

BOOST_AUTO_TEST_CASE(tunnel_reaches_the_oidc_server_over_tls)
{
    const oidc_server& server = default_server();
    proxy_server proxy;
    BOOST_TEST(proxy.url() == "http://127.0.0.1:" + std::to_string(proxy.port()));
    BOOST_TEST(proxy.url_with_credentials() == proxy.url());
    BOOST_TEST(proxy.connect_count() == 0);
    asio::io_context ctx;
    auto reply = open_tunnel(ctx, proxy, server.port());
    BOOST_REQUIRE_EQUAL(reply.status, 200u);
    BOOST_TEST(proxy.connect_count() == 1);
    expect_discovery_through(reply.socket);
    BOOST_TEST(proxy.request_count() == 1);
}

BOOST_AUTO_TEST_CASE(basic_auth_is_required)
{
    const oidc_server& server = default_server();
    proxy_server proxy(proxy_options{"tetrapak-user", "s3cr.t_pw", {}, false});
    BOOST_TEST(proxy.url_with_credentials() ==
               "http://tetrapak-user:s3cr.t_pw@127.0.0.1:" + std::to_string(proxy.port()));
    asio::io_context ctx;
    auto none = open_tunnel(ctx, proxy, server.port());
    BOOST_TEST(none.status == 407u);
    BOOST_TEST(none.proxy_authenticate.find("Basic") == 0);
    // tinyproxy 1.11 answers wrong credentials with 401, not 407.
    auto wrong = open_tunnel(ctx, proxy, server.port(), basic("tetrapak-user", "wrong"));
    BOOST_TEST(wrong.status == 401u);
    auto right = open_tunnel(ctx, proxy, server.port(), basic("tetrapak-user", "s3cr.t_pw"));
    BOOST_REQUIRE_EQUAL(right.status, 200u);
    expect_discovery_through(right.socket);
    BOOST_TEST(proxy.connect_count() == 1);
    BOOST_TEST(proxy.request_count() == 3);
}

BOOST_AUTO_TEST_CASE(credentials_tinyproxy_cannot_take_are_refused_up_front)
{
    BOOST_CHECK_THROW(proxy_server(proxy_options{"user", "p@ss", {}, false}), std::invalid_argument);
    BOOST_CHECK_THROW(proxy_server(proxy_options{"user", "", {}, false}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(connect_to_a_port_not_allowed_is_refused)
{
    const oidc_server& server = default_server();
    asio::io_context ctx;
    for (unsigned short allowed : {static_cast<unsigned short>(1), static_cast<unsigned short>(0)}) {
        proxy_server proxy(proxy_options{{}, {}, {allowed}, false});
        auto reply = open_tunnel(ctx, proxy, server.port());
        BOOST_TEST(reply.status == 403u, "ConnectPort " << allowed);
        BOOST_TEST(proxy.connect_count() == 0);
        BOOST_TEST(proxy.request_count() == 1);
    }
}

BOOST_AUTO_TEST_CASE(deny_all_answers_403)
{
    const oidc_server& server = default_server();
    proxy_server proxy(proxy_options{{}, {}, {}, true});
    asio::io_context ctx;
    auto reply = open_tunnel(ctx, proxy, server.port());
    BOOST_TEST(reply.status == 403u);
    BOOST_TEST(proxy.connect_count() == 0);
    BOOST_TEST(proxy.request_count() == 0); // refused before the request line is read
}

BOOST_AUTO_TEST_CASE(stop_closes_the_port_and_open_tunnels)
{
    const oidc_server& server = default_server();
    proxy_server proxy;
    asio::io_context ctx;
    auto reply = open_tunnel(ctx, proxy, server.port());
    BOOST_REQUIRE_EQUAL(reply.status, 200u);
    unsigned short port = proxy.port();
    proxy.stop();
    BOOST_TEST(!proxy.running());
    BOOST_TEST(proxy.port() == port);
    BOOST_TEST(proxy.connect_count() == 1); // the log outlives the process
    tcp::socket s(ctx);
    boost::system::error_code ec;
    s.connect({loopback, port}, ec);
    BOOST_TEST(ec == asio::error::connection_refused, ec.message());
    char byte = 0;
    asio::read(reply.socket, asio::buffer(&byte, 1), ec);
    BOOST_TEST(!!ec, "the tunnel ends with the proxy: " << ec.message());
    proxy.stop(); // idempotent
}

BOOST_AUTO_TEST_CASE(connect_count_follows_100_concurrent_tunnels)
{
    const oidc_server& server = default_server();
    proxy_server proxy;
    asio::io_context ctx;
    std::vector<connect_reply> tunnels;
    for (long i = 1; i <= 100; ++i) {
        tunnels.push_back(open_tunnel(ctx, proxy, server.port()));
        BOOST_REQUIRE_EQUAL(tunnels.back().status, 200u);
        BOOST_REQUIRE_EQUAL(proxy.connect_count(), i);
    }
    expect_discovery_through(tunnels.front().socket);
    expect_discovery_through(tunnels.back().socket);
    BOOST_TEST(proxy.request_count() == 100);
}

BOOST_AUTO_TEST_CASE(plain_requests_are_forwarded_and_counted)
{
    // A one-shot plain HTTP origin on loopback, to see what the proxy forwards.
    asio::io_context ctx;
    tcp::acceptor origin(ctx, {loopback, 0});
    std::string forwarded;
    std::thread serve([&] {
        tcp::socket peer(ctx);
        origin.accept(peer);
        beast::flat_buffer buf;
        http::request<http::string_body> req;
        http::read(peer, buf, req);
        std::ostringstream s;
        s << req.base();
        forwarded = s.str();
        std::string res = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        asio::write(peer, asio::buffer(res));
    });
    proxy_server proxy(proxy_options{"u", "p", {}, false});
    tcp::socket s(ctx);
    s.connect({loopback, proxy.port()});
    std::string authority = "127.0.0.1:" + std::to_string(origin.local_endpoint().port());
    http::request<http::empty_body> req(http::verb::get, "http://" + authority + "/x", 11);
    req.set(http::field::host, authority);
    req.set(http::field::proxy_authorization, basic("u", "p"));
    http::write(s, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(s, buf, res);
    serve.join();
    BOOST_TEST(res.result_int() == 204u);
    BOOST_TEST(forwarded.find("GET /x ") == 0, forwarded);
    BOOST_TEST(forwarded.find("Via:") == std::string::npos, forwarded);                 // DisableViaHeader
    BOOST_TEST(forwarded.find("Proxy-Authorization") == std::string::npos, forwarded); // consumed by the proxy
    BOOST_TEST(proxy.request_count() == 1);
    BOOST_TEST(proxy.connect_count() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
