// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// Requests through a real HTTP proxy (tinyproxy, test/common/proxy_server):
// tunnels to the real authorization server, proxy authentication, NO_PROXY,
// a proxy that refuses CONNECT, a proxy that is down, the environment's
// proxy and loopback, the trace, authorized_client, and secrets.

#include "fault_server.hpp"
#include "fetch.hpp"
#include "oidc_server.hpp"
#include "proxy_server.hpp"
#include "test_config.hpp"

#include <boost/beast/http/string_body.hpp>

#include <cstdlib>
#include <mutex>
#include <sstream>

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;
using namespace tetrapak;
using boost::system::error_code;
using test::default_server;
using test::proxy_server;

namespace {

/// basic-client against the default server, through `proxy_url`, one attempt.
auth_config proxied(const std::string& proxy_url)
{
    auto cfg = test::basic_client(default_server());
    cfg.proxy.url = proxy_url;
    cfg.retry.max_attempts = 1;
    return cfg;
}

/// Sets an environment variable for the scope of a test.
class scoped_env {
public:
    scoped_env(const char* name, const std::string& value) : name_(name)
    {
        if (const char* old = std::getenv(name))
            old_ = old;
        ::setenv(name, value.c_str(), 1);
    }
    ~scoped_env()
    {
        if (old_)
            ::setenv(name_, old_->c_str(), 1);
        else
            ::unsetenv(name_);
    }
    scoped_env(const scoped_env&) = delete;
    scoped_env& operator=(const scoped_env&) = delete;

private:
    const char* name_;
    std::optional<std::string> old_;
};

} // namespace

BOOST_AUTO_TEST_SUITE(proxy)

BOOST_AUTO_TEST_CASE(tokens_come_through_a_connect_tunnel_that_is_kept_alive)
{
    proxy_server p;
    auto cfg = proxied(p.url());
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    std::mutex mtx;
    std::vector<std::string> steps;
    auth.set_trace([&](const trace_event& e) {
        std::lock_guard lock(mtx);
        if (e.finished)
            steps.emplace_back(to_string(e.step));
    });
    auto first = test::call(ctx, auth);
    BOOST_TEST_REQUIRE(!first->ec, first->ec.message() << ' ' << first->diag);
    BOOST_TEST(!first->token.empty());
    BOOST_TEST(p.connect_count() == 1);

    http_client_options again;
    again.force_authorization = true; // a second request over the same tunnel
    auto second = test::call(ctx, auth, again);
    BOOST_TEST_REQUIRE(!second->ec, second->ec.message());
    BOOST_TEST(p.connect_count() == 1);
    BOOST_TEST(auth.stats()[metric::connection_reused] == 1u);
    std::lock_guard lock(mtx);
    BOOST_TEST(std::count(steps.begin(), steps.end(), "proxy_connect") == 1);
    BOOST_TEST(std::count(steps.begin(), steps.end(), "handshake") == 1);
}

BOOST_AUTO_TEST_CASE(proxy_credentials_from_the_url_or_the_settings)
{
    proxy_server p({.username = "proxy-user", .password = "proxy-pass-7"});
    auto with_url = test::fetch(proxied(p.url_with_credentials()));
    BOOST_TEST(!with_url.ec, with_url.ec.message() << ' ' << with_url.diag);

    auto cfg = proxied(p.url());
    cfg.proxy.username = "proxy-user";
    cfg.proxy.password = "proxy-pass-7";
    auto with_settings = test::fetch(cfg);
    BOOST_TEST(!with_settings.ec, with_settings.ec.message());
    BOOST_TEST(p.connect_count() == 2);
}

BOOST_AUTO_TEST_CASE(missing_or_wrong_proxy_credentials_are_the_proxys_refusal)
{
    proxy_server p({.username = "proxy-user", .password = "proxy-pass-7"});
    auto none = test::fetch(proxied(p.url()));
    BOOST_TEST(none.ec == error_code(error::proxy_auth_required));
    BOOST_TEST(none.diag.http_status() == 407u);
    BOOST_TEST(std::string(none.diag.client_message()).find(p.url()) != std::string::npos);

    auto cfg = proxied(p.url());
    cfg.proxy.username = "proxy-user";
    cfg.proxy.password = "wrong-pass-9";
    auto wrong = test::fetch(cfg);
    BOOST_TEST(wrong.ec == error_code(error::proxy_auth_required)); // tinyproxy answers 401 here
    // The credentials never show: not in the message, not in the printed configuration.
    std::ostringstream printed;
    printed << wrong.diag << ' ' << cfg;
    BOOST_TEST(printed.str().find("wrong-pass-9") == std::string::npos);
    std::ostringstream url_printed;
    url_printed << proxied(p.url_with_credentials());
    BOOST_TEST(url_printed.str().find("proxy-pass-7") == std::string::npos);
    BOOST_TEST(p.connect_count() == 0);
}

BOOST_AUTO_TEST_CASE(no_proxy_sends_the_request_directly)
{
    proxy_server p;
    auto cfg = proxied(p.url());
    cfg.proxy.no_proxy = "example.com, 127.0.0.0/8";
    auto f = test::fetch(cfg);
    BOOST_TEST(!f.ec, f.ec.message());
    BOOST_TEST(p.request_count() == 0);

    cfg.proxy.no_proxy = "example.com, 127.0.0.1:1"; // another port: not bypassed
    auto g = test::fetch(cfg);
    BOOST_TEST(!g.ec, g.ec.message());
    BOOST_TEST(p.connect_count() == 1);
}

BOOST_AUTO_TEST_CASE(a_refused_tunnel_names_the_proxy_and_its_status)
{
    proxy_server p({.allow_connect_ports = {1}});
    auto f = test::fetch(proxied(p.url()));
    BOOST_TEST(f.ec == error_code(error::proxy_refused));
    BOOST_TEST(f.diag.http_status() == 403u);
    const std::string msg(f.diag.client_message());
    BOOST_TEST(msg.find("proxy " + p.url() + " answered 403") != std::string::npos, msg);
    BOOST_TEST(f.ec.message().find("proxy") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_proxy_that_is_down_is_unreachable_and_retried)
{
    proxy_server p;
    p.stop();
    auto cfg = proxied(p.url());
    cfg.retry.max_attempts = 2;
    cfg.retry.base_delay = 10ms;
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    auto r = test::call(ctx, auth);
    BOOST_TEST(r->ec == error_code(error::proxy_unreachable));
    BOOST_TEST(std::string(r->diag.client_message()).find(p.url()) != std::string::npos);
    BOOST_TEST(auth.stats()[metric::retry] == 1u);
}

// Faults a real proxy does not produce, from an in-process one.
BOOST_AUTO_TEST_CASE(a_proxy_that_stalls_on_connect_times_out_with_its_own_code)
{
    test::fault_server stalling([](test::fault_server::socket& s) { test::stall(s); });
    auto cfg = proxied(stalling.url("http", ""));
    cfg.timeouts.connect = 300ms;
    const auto t0 = std::chrono::steady_clock::now();
    auto f = test::fetch(cfg);
    const auto took = std::chrono::steady_clock::now() - t0;
    BOOST_TEST(f.ec == error_code(error::proxy_timeout));
    BOOST_TEST(took >= 300ms);
    BOOST_TEST(took < 3s);
}

BOOST_AUTO_TEST_CASE(a_proxy_answer_that_is_not_http_is_a_bad_response)
{
    test::fault_server garbage([](test::fault_server::socket& s) {
        test::read_request(s);
        test::write_raw(s, "SSH-2.0-OpenSSH_9.2\r\n");
    });
    auto f = test::fetch(proxied(garbage.url("http", "")));
    BOOST_TEST(f.ec == error_code(error::proxy_bad_response));
    BOOST_TEST(std::string(f.diag.client_message()).find("127.0.0.1:" + std::to_string(garbage.port())) !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(bytes_after_the_tunnel_answer_are_refused)
{
    test::fault_server eager([](test::fault_server::socket& s) {
        test::read_request(s);
        test::write_raw(s, "HTTP/1.1 200 Connection established\r\n\r\nunexpected");
        test::stall(s);
    });
    auto f = test::fetch(proxied(eager.url("http", "")));
    BOOST_TEST(f.ec == error_code(error::proxy_bad_response));
}

BOOST_AUTO_TEST_CASE(a_bad_proxy_url_fails_every_request_with_its_own_code)
{
    auto f = test::fetch(proxied("http://user:pw@:3128"));
    BOOST_TEST(f.ec == error_code(error::proxy_url_invalid));
    BOOST_TEST(std::string(f.diag.client_message()).find("pw") == std::string::npos);
    auto g = test::fetch(proxied("https://127.0.0.1:3128"));
    BOOST_TEST(g.ec == error_code(error::proxy_unsupported));
}

BOOST_AUTO_TEST_CASE(the_environments_proxy_never_carries_loopback_and_none_overrides_it)
{
    proxy_server p;
    scoped_env https_proxy("https_proxy", p.url());
    auto cfg = test::basic_client(default_server()); // proxy.url "": the environment
    auto f = test::fetch(cfg);
    BOOST_TEST(!f.ec, f.ec.message());
    BOOST_TEST(p.request_count() == 0); // loopback: never the environment's proxy

    scoped_env all_proxy("ALL_PROXY", "http://127.0.0.1:1");
    cfg.proxy.url = "none";
    auto g = test::fetch(cfg);
    BOOST_TEST(!g.ec, g.ec.message());
    BOOST_TEST(p.request_count() == 0);
}

BOOST_AUTO_TEST_CASE(authorized_client_reaches_its_downstream_through_the_proxy)
{
    proxy_server p;
    auto& server = default_server();
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), proxied(p.url()));
    authorized_client client(auth);
    http::request<http::string_body> req(http::verb::get, "/", 11);
    error_code ec;
    unsigned status = 0;
    client.async_send(server.issuer() + "/.well-known/openid-configuration", std::move(req), {},
                      [&](error_code e, authorized_client::response_type res) {
                          ec = e;
                          status = res.result_int();
                      });
    ctx.run_for(20s);
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(status == 200u);
    // The token request and the downstream request share the server, so
    // they share one tunnel.
    BOOST_TEST(p.connect_count() == 1);
    BOOST_TEST(p.request_count() == 1);
}

BOOST_AUTO_TEST_SUITE_END()
