// The fault matrix: one test case per fault (ctest `fault.<case>`, label
// `fault`). Each case scripts an in-process server to misbehave in one way and
// checks the client's answer: the specific error code, within the bound the
// configuration sets, exactly one completion, no token; then the server heals
// and the SAME service gets a token on its next request. README "Faults"
// publishes this table.
#include "fault_server.hpp"
#include "fetch.hpp"
#include "oidc_server.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/test/unit_test.hpp>

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace tetrapak;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
using test::fault_server;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto step_timeout = 300ms; // every per-step timeout in the matrix

const std::string good_token = "healed-token";

std::string good_answer()
{
    return test::http("200 OK", R"({"access_token":")" + good_token + R"(","token_type":"Bearer","expires_in":3600})");
}

/// A server that misbehaves until heal(): per connection (`fault`, from the
/// first byte) or per request (`answer`, sent after a correct TLS handshake and
/// request). Healed, it answers every request with a good token, keep-alive.
class healing_server {
public:
    healing_server(fault_server::script fault, std::string answer, unsigned short port = 0)
        : fault_(std::move(fault)), answer_(std::move(answer)),
          answering_(test::serving(requests_, [this](int) { return healed_ || answer_.empty() ? good_answer() : answer_; })),
          server_([this](fault_server::socket& s) { fault_ && !healed_ ? fault_(s) : answering_(s); }, port)
    {
    }

    void heal() { healed_ = true; }
    std::string url() const { return server_.url(); }
    int connections() const { return server_.connections(); }
    int requests() const { return requests_.load(); }

private:
    fault_server::script fault_;
    std::string answer_;
    std::atomic<bool> healed_{false};
    std::atomic<int> requests_{0};
    fault_server::script answering_;
    fault_server server_; // last: its thread uses the members above
};

/// One row of the matrix.
struct fault_case {
    fault_server::script fault;          ///< misbehaves from the first byte of a connection, or
    std::string answer;                  ///< the answer to every request (TLS and request read correctly)
    error_code expected;                 ///< what the caller must see
    steady::duration at_least = 0ms;     ///< the configured bound it waits for (timeouts, Retry-After)
    steady::duration at_most = 3s;       ///< and the most it may take
    std::function<void(auth_config&)> tune = {};
};

auth_config matrix_config(const std::string& url)
{
    auto c = test::fault_client(url); // one attempt: each fault is seen as it is
    c.timeouts.connect = step_timeout;
    c.timeouts.handshake = step_timeout;
    c.timeouts.request = step_timeout;
    c.timeouts.response_header = step_timeout;
    c.timeouts.response_body = step_timeout;
    return c;
}

void retried(auth_config& c)
{
    c.retry.max_attempts = 3;
    c.retry.base_delay = 20ms;
    c.retry.max_delay = 2s;
}

long long ms(steady::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

struct case_run {
    std::shared_ptr<test::call_result> fault;
    int requests = 0;    ///< requests the server read during the fault
    int connections = 0; ///< connections it accepted during the fault
};

/// Runs the fault, checks the caller's answer, heals the server, and checks
/// that the same service then gets a token.
case_run check(const fault_case& row, unsigned short port = 0)
{
    healing_server server(row.fault, row.answer, port);
    auto cfg = matrix_config(server.url());
    if (row.tune)
        row.tune(cfg);
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);

    case_run run;
    run.fault = test::call(ctx, auth);
    run.requests = server.requests();
    run.connections = server.connections();
    const auto& r = *run.fault;
    BOOST_TEST(r.ec == row.expected, r.ec.category().name() << ':' << r.ec.value() << ' ' << r.ec.message());
    BOOST_TEST(r.token.empty());
    BOOST_TEST(ms(r.elapsed) >= ms(row.at_least), ms(r.elapsed) << " ms");
    BOOST_TEST(ms(r.elapsed) <= ms(row.at_most), ms(r.elapsed) << " ms");

    server.heal();
    if (r.diag.retry_after()) // remembered for the key: the next request waits it out
        std::this_thread::sleep_for(*r.diag.retry_after() + 100ms);
    auto next = test::call(ctx, auth);
    BOOST_TEST(!next->ec, "after the fault: " << next->ec.message());
    BOOST_TEST(next->token.value() == good_token);
    return run;
}

/// TLS, then reads the request: the point where the answer would be written.
void after_request(fault_server::socket& s, const std::function<void(test::tls_stream&)>& then,
                   const std::string& cert = "server")
{
    auto tls = test::server_tls_context(cert);
    test::tls_stream st(s, tls);
    st.handshake(asio::ssl::stream_base::server);
    test::read_request(st);
    then(st);
}

/// A server presenting `cert` (a name from test/server/gen-certs.sh).
fault_server::script presenting(std::string cert)
{
    return [cert](fault_server::socket& s) { after_request(s, [](test::tls_stream&) {}, cert); };
}

fault_case answering(std::string answer, error_code expected)
{
    return {{}, std::move(answer), expected};
}

} // namespace

BOOST_AUTO_TEST_SUITE(fault_matrix)

// --- connection ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(connection_refused)
{
    // A port that was free a moment ago: nothing listens, the kernel answers RST.
    unsigned short port;
    {
        asio::io_context ioc;
        asio::ip::tcp::acceptor probe(ioc, {asio::ip::make_address("127.0.0.1"), 0});
        port = probe.local_endpoint().port();
    }
    std::optional<healing_server> server; // outlives the service and its pooled connection
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), matrix_config("https://127.0.0.1:" + std::to_string(port) + "/token"));
    auto r = test::call(ctx, auth);
    BOOST_TEST(r->ec == asio::error::connection_refused, r->ec.message());
    BOOST_TEST(ms(r->elapsed) < 3000);
    // The server comes up on that port: the same service gets its token.
    server.emplace(fault_server::script{}, std::string{}, port);
    auto next = test::call(ctx, auth);
    BOOST_TEST(!next->ec, next->ec.message());
    BOOST_TEST(next->token.value() == good_token);
}

BOOST_AUTO_TEST_CASE(connect_stalls)
{
    // A listener with a full accept queue that never accepts: further SYNs
    // are dropped, so connect() neither succeeds nor fails.
    asio::io_context ioc;
    asio::ip::tcp::acceptor acc(ioc, asio::ip::tcp::v4());
    acc.bind({asio::ip::make_address("127.0.0.1"), 0});
    acc.listen(0);
    const auto port = acc.local_endpoint().port();
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
    std::optional<healing_server> server; // outlives the service and its pooled connection
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), matrix_config("https://127.0.0.1:" + std::to_string(port) + "/token"));
    auto r = test::call(ctx, auth);
    BOOST_TEST(r->ec == error::connect_timeout, r->ec.message());
    BOOST_TEST(ms(r->elapsed) >= ms(step_timeout) - 10);
    BOOST_TEST(ms(r->elapsed) < 3000);
    for (int fd : fillers)
        ::close(fd);
    acc.close();
    server.emplace(fault_server::script{}, std::string{}, port);
    auto next = test::call(ctx, auth);
    BOOST_TEST(!next->ec, next->ec.message());
}

BOOST_AUTO_TEST_CASE(reset_before_response)
{
    check({[](fault_server::socket& s) { after_request(s, [&](test::tls_stream&) { test::reset(s); }); }, {},
           asio::error::connection_reset});
}

BOOST_AUTO_TEST_CASE(reset_mid_body)
{
    check({[](fault_server::socket& s) {
               after_request(s, [&](test::tls_stream& st) {
                   test::write_raw(st, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
                                       "{\"access_token\":\"tr");
                   test::reset(s);
               });
           },
           {}, asio::error::connection_reset});
}

BOOST_AUTO_TEST_CASE(close_during_tls_handshake)
{
    // The server reads the ClientHello, then closes (FIN): the handshake ends early.
    check({[](fault_server::socket& s) {
               char hello[4096];
               s.read_some(asio::buffer(hello));
               s.close();
           },
           {}, asio::ssl::error::stream_truncated});
}

// --- stalls: each hits its own timeout ----------------------------------

BOOST_AUTO_TEST_CASE(stall_during_tls_handshake)
{
    check({[](fault_server::socket& s) { test::stall(s); }, {}, error::handshake_timeout, step_timeout - 10ms});
}

BOOST_AUTO_TEST_CASE(stall_during_headers)
{
    check({[](fault_server::socket& s) {
               after_request(s, [&](test::tls_stream& st) {
                   test::write_raw(st, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"); // never ends
                   test::stall(s);
               });
           },
           {}, error::response_header_timeout, step_timeout - 10ms});
}

BOOST_AUTO_TEST_CASE(stall_during_body)
{
    check({[](fault_server::socket& s) {
               after_request(s, [&](test::tls_stream& st) {
                   test::write_raw(st, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"acc");
                   test::stall(s);
               });
           },
           {}, error::response_body_timeout, step_timeout - 10ms});
}

// --- broken HTTP --------------------------------------------------------

BOOST_AUTO_TEST_CASE(truncated_body_with_content_length)
{
    // The server promises 200 bytes, sends 20 and closes cleanly (TLS close_notify, then FIN).
    check({[](fault_server::socket& s) {
               after_request(s, [&](test::tls_stream& st) {
                   test::write_raw(st, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
                                       "{\"access_token\":\"tr");
                   error_code ec;
                   st.shutdown(ec);
               });
           },
           {}, http::error::partial_message});
}

BOOST_AUTO_TEST_CASE(malformed_chunked_encoding)
{
    check(answering("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", http::error::bad_chunk));
}

BOOST_AUTO_TEST_CASE(garbage_status_line)
{
    check(answering("SMTP ready\r\n\r\n", http::error::bad_version));
}

BOOST_AUTO_TEST_CASE(body_above_the_cap)
{
    auto r = check(answering(test::http("200 OK", std::string(2 * 1024 * 1024, 'x')), error::response_too_large));
    BOOST_TEST(r.requests == 1);
}

BOOST_AUTO_TEST_CASE(chunked_body_above_the_cap)
{
    std::string resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 8; ++i)
        resp += "1000\r\n" + std::string(4096, 'a') + "\r\n";
    resp += "0\r\n\r\n";
    auto row = answering(resp, error::response_too_large);
    row.tune = [](auth_config& c) { c.max_response_size = 10000; };
    check(row);
}

BOOST_AUTO_TEST_CASE(header_section_above_the_cap)
{
    check(answering(test::http("200 OK", "{}", "X-Big: " + std::string(64 * 1024, 'h') + "\r\n"), error::header_too_large));
}

BOOST_AUTO_TEST_CASE(redirect_is_not_followed)
{
    auto r = check(answering(test::http("302 Found", "", "Location: https://evil.example/token\r\n"), error::redirect_not_followed));
    BOOST_TEST(r.fault->diag.http_status() == 302u);
    BOOST_TEST(r.requests == 1); // nothing went to the Location
}

// --- server failures: retried, then a typed error -----------------------

BOOST_AUTO_TEST_CASE(status_500_with_oauth_server_error)
{
    auto row = answering(test::http("500 Internal Server Error", R"({"error":"server_error","error_description":"db down"})"),
                         oauth_errc::server_error);
    row.tune = retried;
    auto r = check(row);
    BOOST_TEST(r.requests == 3);
    BOOST_TEST(r.fault->diag.error_description() == "db down");
}

BOOST_AUTO_TEST_CASE(status_502)
{
    auto row = answering(test::http("502 Bad Gateway", "<html>bad gateway</html>"), error::server_unavailable);
    row.tune = retried;
    auto r = check(row);
    BOOST_TEST(r.requests == 3);
    BOOST_TEST(r.fault->diag.http_status() == 502u);
}

BOOST_AUTO_TEST_CASE(status_503)
{
    auto row = answering(test::http("503 Service Unavailable", ""), error::server_unavailable);
    row.tune = retried;
    auto r = check(row);
    BOOST_TEST(r.requests == 3);
    BOOST_TEST(r.fault->diag.http_status() == 503u);
}

BOOST_AUTO_TEST_CASE(status_429_retry_after_seconds)
{
    // Retry-After: 1 is within the 2 s cap: waited for before each retry.
    auto row = answering(test::http("429 Too Many Requests", "", "Retry-After: 1\r\n"), error::too_many_requests);
    row.tune = retried;
    row.at_least = 2s;
    row.at_most = 4s;
    auto r = check(row);
    BOOST_TEST(r.requests == 3);
    BOOST_TEST((r.fault->diag.retry_after() == std::chrono::seconds(1)));
}

BOOST_AUTO_TEST_CASE(status_429_retry_after_http_date)
{
    // An HTTP date 4 s ahead: waited for when within the cap (here 5 s). It is
    // written before the server and the service start, which can take over a
    // second: 2 s ahead sometimes left nothing to wait for by the request.
    auto when = test::imf_fixdate(std::chrono::system_clock::now() + 4s);
    auto row = answering(test::http("429 Too Many Requests", "", "Retry-After: " + when + "\r\n"), error::too_many_requests);
    row.tune = [](auth_config& c) {
        retried(c);
        c.retry.max_attempts = 2;
        c.retry.max_delay = 5s;
    };
    row.at_least = 900ms; // the date has a one-second resolution
    row.at_most = 6s;
    auto r = check(row);
    BOOST_TEST(r.requests == 2);
    BOOST_TEST(r.fault->diag.retry_after().has_value());
}

// --- a 200 that is not a token -------------------------------------------

BOOST_AUTO_TEST_CASE(success_with_non_json)
{
    check(answering(test::http("200 OK", "<html>hello</html>"), error::malformed_response));
}

BOOST_AUTO_TEST_CASE(success_without_access_token)
{
    check(answering(test::http("200 OK", R"({"token_type":"Bearer","expires_in":60})"), error::missing_access_token));
}

BOOST_AUTO_TEST_CASE(expires_in_negative)
{
    check(answering(test::http("200 OK", R"({"access_token":"a","token_type":"Bearer","expires_in":-5})"),
                    error::invalid_expires_in));
}

BOOST_AUTO_TEST_CASE(expires_in_huge)
{
    check(answering(test::http("200 OK", R"({"access_token":"a","token_type":"Bearer","expires_in":1e300})"),
                    error::invalid_expires_in));
}

BOOST_AUTO_TEST_CASE(expires_in_not_a_number)
{
    check(answering(test::http("200 OK", R"({"access_token":"a","token_type":"Bearer","expires_in":"soon"})"),
                    error::invalid_expires_in));
}

BOOST_AUTO_TEST_CASE(token_type_unknown)
{
    check(answering(test::http("200 OK", R"({"access_token":"a","token_type":"MAC","expires_in":60})"),
                    error::unsupported_token_type));
}

// --- TLS ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(certificate_for_another_host)
{
    check({presenting("wronghost"), {}, error::tls_verification_failed});
}

BOOST_AUTO_TEST_CASE(untrusted_ca)
{
    check({presenting("other-server"), {}, error::tls_verification_failed});
}

BOOST_AUTO_TEST_CASE(expired_certificate)
{
    check({presenting("expired"), {}, error::tls_verification_failed});
}

BOOST_AUTO_TEST_CASE(tls_1_0_and_1_1_only_server)
{
    check({[](fault_server::socket& s) {
               auto tls = test::server_tls_context();
               SSL_CTX* ctx = tls.native_handle();
               SSL_CTX_set_security_level(ctx, 0); // OpenSSL 3 needs level 0 for TLS 1.0/1.1
               SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
               SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
               SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION);
               test::tls_stream st(s, tls);
               st.handshake(asio::ssl::stream_base::server);
           },
           {}, error::tls_version_refused});
}

BOOST_AUTO_TEST_CASE(plain_http_on_the_https_port)
{
    check({[](fault_server::socket& s) {
               test::write_raw(s, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
           },
           {}, error::not_tls});
}

BOOST_AUTO_TEST_SUITE_END()
