// Bad configuration and caller input: a specific error before anything is sent,
// delivered through the handler's executor, never inline, never a crash.
#include <tetrapak.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <functional>

using namespace tetrapak;
namespace asio = boost::asio;

namespace {

auth_config good()
{
    auth_config c;
    c.client_id = "id";
    c.client_secret = "secret";
    c.token_endpoint = "https://127.0.0.1:1/token"; // nothing is ever sent there by these tests
    return c;
}

struct result {
    int calls = 0;
    boost::system::error_code ec;
    actor_token token;
    diagnostics diag;
};

// Runs one async_authorize on a fresh io_context and checks the completion
// is not inline and happens exactly once.
result run(const auth_config& cfg, http_client_options opts = {})
{
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), good());
    opts.auth_config = std::make_shared<auth_config>(cfg);
    result r;
    auth.async_authorize(opts, r.diag, [&](boost::system::error_code ec, actor_token t) {
        ++r.calls;
        r.ec = ec;
        r.token = std::move(t);
    });
    BOOST_TEST(r.calls == 0); // never inside the initiating call
    ctx.run();
    BOOST_TEST(r.calls == 1);
    return r;
}

void expect(const auth_config& cfg, boost::system::error_code code, std::string_view detail)
{
    auto r = run(cfg);
    BOOST_TEST(r.ec == code);
    BOOST_TEST(r.token.empty());
    BOOST_TEST(r.diag.client_message() == detail);
}

} // namespace

BOOST_AUTO_TEST_SUITE(bad_input)

BOOST_AUTO_TEST_CASE(missing_credentials)
{
    auto c = good();
    c.client_id.clear();
    expect(c, error::missing_client_id, "auth_config.client_id");
    c = good();
    c.client_secret = "";
    expect(c, error::missing_client_secret, "auth_config.client_secret");
}

BOOST_AUTO_TEST_CASE(bad_urls)
{
    auto c = good();
    c.token_endpoint = "";
    expect(c, error::missing_token_endpoint, "auth_config.token_endpoint and discovery_document_url are empty");
    c.token_endpoint = "::not a url::";
    BOOST_TEST(run(c).ec == error::invalid_url);
    c.token_endpoint = "http://127.0.0.1:1/token";
    BOOST_TEST(run(c).ec == error::insecure_transport);
    c.allow_insecure_http_on_loopback = true;
    c.token_endpoint = "http://auth.example.com/token";
    BOOST_TEST(run(c).ec == error::insecure_transport);
}

BOOST_AUTO_TEST_CASE(cr_lf_nul_in_any_header_or_form_value)
{
    using member = std::function<void(auth_config&, std::string)>;
    const std::pair<const char*, member> fields[] = {
        {"auth_config.client_id", [](auth_config& c, std::string v) { c.client_id = v; }},
        {"auth_config.client_secret", [](auth_config& c, std::string v) { c.client_secret = v; }},
        {"auth_config.resource", [](auth_config& c, std::string v) { c.resource = v; }},
        {"auth_config.audience", [](auth_config& c, std::string v) { c.audience = v; }},
        {"auth_config.user_agent", [](auth_config& c, std::string v) { c.user_agent = v; }},
        {"auth_config.scope[0]", [](auth_config& c, std::string v) { c.scope = {v}; }},
    };
    for (auto& [name, set] : fields) {
        for (std::string bad : {std::string("a\rb"), std::string("a\nb"), std::string("a\0b", 3),
                                std::string("x\r\nX-Injected: 1")}) {
            auto c = good();
            set(c, bad);
            auto r = run(c);
            BOOST_TEST(r.ec == error::invalid_header_value, name);
            BOOST_TEST(r.diag.client_message() == name);
        }
    }
    // the caller's actor token too
    auto c = good();
    c.grant = grant_type::token_exchange;
    http_client_options o;
    o.actor_token = actor_token(std::string("abc\r\nX: y"));
    auto r = run(c, o);
    BOOST_TEST(r.ec == error::invalid_header_value);
    BOOST_TEST(r.diag.client_message() == "http_client_options.actor_token");
}

BOOST_AUTO_TEST_CASE(bad_scope_entries)
{
    for (std::string s : {"", "two words", "quote\"", "back\\slash", "\x7f"}) {
        auto c = good();
        c.scope = {"ok", s};
        auto r = run(c);
        BOOST_TEST(r.ec == error::invalid_scope_value, s);
        BOOST_TEST(r.diag.client_message() == "auth_config.scope[1]");
    }
}

BOOST_AUTO_TEST_CASE(unsupported_grants_are_refused_before_sending)
{
    auto c = good();
    c.grant = grant_type::none;
    BOOST_TEST(run(c).ec == error::no_authorization);
    c.grant = grant_type::token_exchange;
    BOOST_TEST(run(c).ec == error::no_subject_token);
}

BOOST_AUTO_TEST_CASE(bad_ca_file_is_a_clear_error)
{
    asio::io_context ctx;
    auto c = good();
    c.tls.ca_file = "/nonexistent/ca.pem";
    try {
        authorization_service auth(ctx.get_executor(), c);
        BOOST_FAIL("constructor accepted a missing CA file");
    } catch (const error_with_diagnostics& e) {
        BOOST_TEST(e.get_diagnostics().client_message() == "tls.ca_file could not be loaded");
    }
}

BOOST_AUTO_TEST_CASE(immediate_error_runs_on_associated_executor)
{
    asio::io_context ctx, other;
    authorization_service auth(ctx.get_executor(), good());
    auto c = good();
    c.client_id.clear();
    bool ran_on_other = false;
    http_client_options o;
    o.auth_config = std::make_shared<auth_config>(c);
    auth.async_authorize(o,
                         asio::bind_executor(other.get_executor(), [&](boost::system::error_code ec, actor_token) {
                             ran_on_other = other.get_executor().running_in_this_thread();
                             BOOST_TEST(ec == error::missing_client_id);
                         }));
    ctx.run();
    BOOST_TEST(!ran_on_other);
    other.run();
    BOOST_TEST(ran_on_other);
}

BOOST_AUTO_TEST_SUITE_END()
