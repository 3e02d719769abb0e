// A failure injected at each step of the exchange surfaces as an error from
// that step, exactly once, with no work left behind.
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

struct outcome_of {
    error_code ec;
    int calls = 0;
    step failed_step = step::parse;
    bool saw_failure = false;
};

outcome_of run(const fault_server& server)
{
    auto c = test::fault_client(server.url());
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), c);
    outcome_of r;
    auth.set_trace([&](const trace_event& e) {
        if (e.finished && e.ec && !r.saw_failure) {
            r.saw_failure = true;
            r.failed_step = e.step;
        }
    });
    auth.async_authorize({}, [&](error_code ec, actor_token) {
        ++r.calls;
        r.ec = ec;
    });
    ctx.run_for(20s);
    BOOST_TEST(ctx.stopped());
    BOOST_TEST(r.calls == 1);
    return r;
}

void tls_accept_then(fault_server::socket& s, const std::function<void(test::tls_stream&)>& then)
{
    auto tls = test::server_tls_context();
    test::tls_stream stream(s, tls);
    stream.handshake(asio::ssl::stream_base::server);
    then(stream);
}

void reset(fault_server::socket& s)
{
    s.set_option(asio::socket_base::linger(true, 0)); // close() sends RST
    s.close();
}

} // namespace

BOOST_AUTO_TEST_SUITE(step_failure)

BOOST_AUTO_TEST_CASE(close_during_handshake)
{
    fault_server server([](fault_server::socket& s) { s.close(); });
    auto r = run(server);
    BOOST_TEST(r.ec.failed());
    BOOST_TEST((r.failed_step == step::handshake));
}

BOOST_AUTO_TEST_CASE(plain_http_on_the_https_port)
{
    fault_server server([](fault_server::socket& s) {
        test::write_raw(s, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    });
    auto r = run(server);
    BOOST_TEST(r.ec.failed());
    BOOST_TEST((r.failed_step == step::handshake));
}

BOOST_AUTO_TEST_CASE(reset_before_response)
{
    fault_server server([](fault_server::socket& s) {
        tls_accept_then(s, [&](test::tls_stream& st) {
            test::read_request(st);
            reset(s);
        });
    });
    auto r = run(server);
    BOOST_TEST(r.ec.failed());
    BOOST_TEST((r.failed_step == step::read_header));
}

BOOST_AUTO_TEST_CASE(reset_mid_body)
{
    fault_server server([](fault_server::socket& s) {
        tls_accept_then(s, [&](test::tls_stream& st) {
            test::read_request(st);
            test::write_raw(st, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"access_");
            reset(s);
        });
    });
    auto r = run(server);
    BOOST_TEST(r.ec.failed());
    BOOST_TEST((r.failed_step == step::read_body));
}

BOOST_AUTO_TEST_CASE(malformed_chunked_encoding)
{
    fault_server server([](fault_server::socket& s) {
        tls_accept_then(s, [&](test::tls_stream& st) {
            test::read_request(st);
            test::write_raw(st, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n");
        });
    });
    auto r = run(server);
    BOOST_TEST(r.ec.failed());
    BOOST_TEST((r.failed_step == step::read_body));
}

BOOST_AUTO_TEST_CASE(garbage_status_line)
{
    fault_server server([](fault_server::socket& s) {
        tls_accept_then(s, [&](test::tls_stream& st) {
            test::read_request(st);
            test::write_raw(st, "SMTP ready\r\n\r\n");
        });
    });
    auto r = run(server);
    BOOST_TEST(r.ec.failed());
    BOOST_TEST((r.failed_step == step::read_header));
}

BOOST_AUTO_TEST_SUITE_END()
