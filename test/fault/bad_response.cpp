// Responses a real server will not produce: oversized, redirects, garbage.
#include "fault_server.hpp"
#include "oidc_server.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

using namespace tetrapak;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using boost::system::error_code;
using test::fault_server;

namespace {

/// A TLS server answering every request with `response`.
fault_server answering(std::string response)
{
    return fault_server([response](fault_server::socket& s) {
        auto tls = test::server_tls_context();
        test::tls_stream stream(s, tls);
        stream.handshake(asio::ssl::stream_base::server);
        test::read_request(stream);
        test::write_raw(stream, response);
    });
}

struct fetched {
    error_code ec;
    actor_token token;
    diagnostics diag;
};

fetched run(const fault_server& server, std::size_t max_body = 1024 * 1024)
{
    auto c = test::fault_client(server.url());
    c.max_response_size = max_body;
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), c);
    fetched f;
    auth.async_authorize({}, f.diag, [&](error_code ec, actor_token t) {
        f.ec = ec;
        f.token = std::move(t);
    });
    ctx.run_for(20s);
    BOOST_TEST(ctx.stopped());
    return f;
}

std::string http(std::string status, std::string body, std::string extra = {})
{
    return "HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n" + extra + "\r\n" + body;
}

} // namespace

BOOST_AUTO_TEST_SUITE(bad_response)

BOOST_AUTO_TEST_CASE(body_above_the_cap_with_content_length)
{
    auto server = answering(http("200 OK", std::string(2 * 1024 * 1024, 'x')));
    auto f = run(server);
    BOOST_TEST(f.ec == error::response_too_large, f.ec.message());
}

BOOST_AUTO_TEST_CASE(chunked_body_above_a_small_cap)
{
    std::string chunk(4096, 'a');
    std::string resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 8; ++i)
        resp += "1000\r\n" + chunk + "\r\n";
    resp += "0\r\n\r\n";
    auto server = answering(resp);
    auto f = run(server, 10000);
    BOOST_TEST(f.ec == error::response_too_large, f.ec.message());
}

BOOST_AUTO_TEST_CASE(header_section_above_the_cap)
{
    auto server = answering(http("200 OK", "{}", "X-Big: " + std::string(64 * 1024, 'h') + "\r\n"));
    auto f = run(server);
    BOOST_TEST(f.ec == error::header_too_large, f.ec.message());
}

BOOST_AUTO_TEST_CASE(redirect_is_not_followed)
{
    auto server = answering(http("302 Found", "", "Location: https://evil.example/token\r\n"));
    auto f = run(server);
    BOOST_TEST(f.ec == error::redirect_not_followed);
    BOOST_TEST(f.diag.http_status() == 302u);
    BOOST_TEST(server.connections() == 1);
}

BOOST_AUTO_TEST_CASE(non_json_success)
{
    auto server = answering(http("200 OK", "<html>hello</html>"));
    auto f = run(server);
    BOOST_TEST(f.ec == error::malformed_response);
    BOOST_TEST(f.token.empty());
}

BOOST_AUTO_TEST_CASE(success_without_access_token)
{
    auto server = answering(http("200 OK", R"({"token_type":"Bearer","expires_in":60})"));
    auto f = run(server);
    BOOST_TEST(f.ec == error::missing_access_token);
    BOOST_TEST(f.token.empty());
}

BOOST_AUTO_TEST_CASE(well_formed_answer_from_a_fault_server_is_accepted)
{
    // The control: the same harness with a correct answer yields a token.
    auto server = answering(http("200 OK", R"({"access_token":"abc","token_type":"bearer","expires_in":"60"})"));
    auto f = run(server);
    BOOST_TEST_REQUIRE(!f.ec, f.ec.message());
    BOOST_TEST(f.token.value() == "abc");
}

BOOST_AUTO_TEST_SUITE_END()
