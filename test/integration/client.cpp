// authorized_client: outgoing Beast requests with a token from the real
// oidc-provider, to an in-process HTTPS downstream service that records what
// it received.
#include "fault_server.hpp"
#include "oidc_server.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

using namespace tetrapak;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
using test::default_server;
using test::fault_server;

namespace {

/// An answer with this status makes the downstream service stall instead.
constexpr unsigned stall_status = 599;

struct seen {
    std::string authorization;
    std::string flow_id;
    std::string target;
    std::string body;
};

/// A downstream HTTPS service: answers each request with `answer(n, request)`
/// (n counts requests from 1) on kept-alive connections; records requests.
class downstream {
public:
    using answer_fn = std::function<http::response<http::string_body>(int, const http::request<http::string_body>&)>;

    explicit downstream(answer_fn answer)
        : answer_(std::move(answer)), server_([this](fault_server::socket& s) { serve(s); })
    {
    }

    std::string url(std::string_view path = "/orders?x=1") const { return server_.url("https", path); }
    std::vector<seen> requests()
    {
        std::lock_guard lock(mtx_);
        return seen_;
    }
    int connections() const { return server_.connections(); }

private:
    void serve(fault_server::socket& s)
    {
        auto tls = test::server_tls_context();
        test::tls_stream st(s, tls);
        st.handshake(asio::ssl::stream_base::server);
        boost::beast::flat_buffer buf;
        for (;;) {
            http::request<http::string_body> req;
            http::read(st, buf, req); // throws when the client goes
            int n;
            {
                std::lock_guard lock(mtx_);
                seen_.push_back({std::string(req[http::field::authorization]), std::string(req["api-flow-id"]),
                                 std::string(req.target()), req.body()});
                n = static_cast<int>(seen_.size());
            }
            auto res = answer_(n, req);
            if (res.result_int() == stall_status) {
                test::stall(s); // until the client gives up
                return;
            }
            res.version(11);
            res.prepare_payload();
            http::write(st, res);
        }
    }

    answer_fn answer_;
    std::mutex mtx_;
    std::vector<seen> seen_;
    fault_server server_; // last: its thread uses the members above
};

http::response<http::string_body> answer(http::status status, std::string body)
{
    http::response<http::string_body> r{status, 11};
    r.body() = std::move(body);
    return r;
}

authorized_client::request_type post(std::string body)
{
    authorized_client::request_type req{http::verb::post, "/ignored", 11};
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
    return req;
}

struct sent {
    error_code ec = asio::error::would_block;
    authorized_client::response_type res;
    diagnostics diag;
    int calls = 0;
};

sent send(asio::io_context& ctx, authorized_client& client, std::string url, authorized_client::request_type req,
          outgoing_options o = {})
{
    sent r;
    client.async_send(std::move(url), std::move(req), std::move(o), r.diag, [&](error_code ec, authorized_client::response_type res) {
        r.ec = ec;
        r.res = std::move(res);
        ++r.calls;
    });
    ctx.restart();
    ctx.run_for(20s);
    BOOST_TEST(ctx.stopped());
    BOOST_TEST(r.calls == 1);
    return r;
}

} // namespace

BOOST_AUTO_TEST_SUITE(authorized_client_suite)

BOOST_AUTO_TEST_CASE(sends_a_bearer_token_and_the_flow_id_and_returns_the_answer)
{
    auto& server = default_server();
    downstream svc([](int, const auto& req) { return answer(http::status::ok, "orders for " + req.body()); });
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::basic_client(server));
    authorized_client client(auth);
    outgoing_options o;
    o.correlation_id = "flow-42";
    auto r = send(ctx, client, svc.url(), post("alice"), o);
    BOOST_TEST_REQUIRE(!r.ec, r.ec.message() << ' ' << r.diag);
    BOOST_TEST(r.res.result_int() == 200u);
    BOOST_TEST(r.res.body() == "orders for alice");
    auto got = svc.requests();
    BOOST_TEST_REQUIRE(got.size() == 1u);
    BOOST_TEST(got[0].authorization.rfind("Bearer ", 0) == 0u);
    BOOST_TEST(got[0].authorization.size() > 20u);
    BOOST_TEST(got[0].flow_id == "flow-42");
    BOOST_TEST(got[0].target == "/orders?x=1");

    // a second request: the cached token, the kept-alive connection
    auto again = send(ctx, client, svc.url(), post("bob"));
    BOOST_TEST_REQUIRE(!again.ec);
    got = svc.requests();
    BOOST_TEST_REQUIRE(got.size() == 2u);
    BOOST_TEST(got[1].authorization == got[0].authorization);
    BOOST_TEST(got[1].flow_id.empty());
    BOOST_TEST(svc.connections() == 1);
}

BOOST_AUTO_TEST_CASE(a_downstream_401_renews_the_token_exactly_once)
{
    auto& server = default_server();
    downstream svc([](int n, const auto&) { return n == 1 ? answer(http::status::unauthorized, "") : answer(http::status::ok, "ok"); });
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::basic_client(server));
    authorized_client client(auth);
    server.reset_stats();
    auto r = send(ctx, client, svc.url(), post("x"));
    BOOST_TEST_REQUIRE(!r.ec, r.ec.message());
    BOOST_TEST(r.res.result_int() == 200u);
    auto got = svc.requests();
    BOOST_TEST_REQUIRE(got.size() == 2u);
    BOOST_TEST(got[0].authorization != got[1].authorization); // a new token the second time
    BOOST_TEST(server.stat("token_requests") == 2);
}

BOOST_AUTO_TEST_CASE(a_second_401_is_returned_as_it_is)
{
    auto& server = default_server();
    downstream svc([](int, const auto&) { return answer(http::status::unauthorized, "no"); });
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::basic_client(server));
    authorized_client client(auth);
    auto r = send(ctx, client, svc.url(), post("x"));
    BOOST_TEST_REQUIRE(!r.ec, r.ec.message());
    BOOST_TEST(r.res.result_int() == 401u);
    BOOST_TEST(svc.requests().size() == 2u);
}

BOOST_AUTO_TEST_CASE(grant_none_sends_without_a_token)
{
    auto& server = default_server();
    downstream svc([](int, const auto&) { return answer(http::status::ok, "public"); });
    auto cfg = test::basic_client(server);
    cfg.grant = grant_type::none;
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    authorized_client client(auth);
    auto req = post("x");
    req.set(http::field::authorization, "Bearer must-not-leak"); // a caller's header is not forwarded
    auto r = send(ctx, client, svc.url(), req);
    BOOST_TEST_REQUIRE(!r.ec, r.ec.message());
    auto got = svc.requests();
    BOOST_TEST_REQUIRE(got.size() == 1u);
    BOOST_TEST(got[0].authorization.empty());
}

BOOST_AUTO_TEST_CASE(a_token_failure_sends_nothing_downstream)
{
    auto& server = default_server();
    downstream svc([](int, const auto&) { return answer(http::status::ok, "x"); });
    auto cfg = test::basic_client(server);
    cfg.client_secret = "wrong";
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    authorized_client client(auth);
    auto r = send(ctx, client, svc.url(), post("x"));
    BOOST_TEST(r.ec == oauth_errc::invalid_client, r.ec.message());
    BOOST_TEST(r.diag.error() == "invalid_client");
    BOOST_TEST(svc.requests().empty());
}

BOOST_AUTO_TEST_CASE(cancellation_while_the_downstream_service_stalls)
{
    auto& server = default_server();
    std::atomic<bool> arrived{false};
    downstream svc([&](int, const auto&) {
        arrived = true;
        http::response<http::string_body> r;
        r.result(stall_status);
        return r;
    });
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::basic_client(server));
    authorized_client client(auth);
    asio::cancellation_signal sig;
    sent r;
    client.async_send(svc.url(), post("x"), {}, asio::bind_cancellation_slot(sig.slot(), [&](error_code ec, auto) {
                          r.ec = ec;
                          ++r.calls;
                      }));
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (!arrived && std::chrono::steady_clock::now() < until)
        ctx.run_for(5ms);
    BOOST_TEST_REQUIRE(arrived.load());
    BOOST_TEST(r.calls == 0);
    sig.emit(asio::cancellation_type::terminal);
    ctx.restart();
    ctx.run_for(5s);
    BOOST_TEST(ctx.stopped());
    BOOST_TEST(r.calls == 1);
    BOOST_TEST(r.ec == asio::error::operation_aborted);
}

BOOST_AUTO_TEST_CASE(plain_http_downstream_is_refused_unless_allowed_on_loopback)
{
    auto& server = default_server();
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::basic_client(server));
    authorized_client client(auth);
    auto r = send(ctx, client, "http://example.com/x", post("x"));
    BOOST_TEST(r.ec == error::insecure_transport, r.ec.message());
}

BOOST_AUTO_TEST_SUITE_END()
