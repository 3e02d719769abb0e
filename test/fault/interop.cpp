// Servers that bend the RFCs (issue 13), over real TLS sockets: a token
// endpoint that compares HTTP Basic credentials literally (the raw form only)
// and answers every client failure with 403 and an empty body; the
// BasicCredentials setting; discovery documents with a partial grant list and
// an issuer with a path; a non-standard OAuth error. ctest `fault.interop`.
#include "fault_server.hpp"
#include "fetch.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace tetrapak;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using test::fault_server;
using test::http;

namespace {

const std::string client_id = "interop-client";
const std::string reserved_secret = "s3cr:/+ &%~t"; // every character the RFC form changes
const std::string raw_credentials = client_id + ":" + reserved_secret;

/// What the server saw of one request.
struct seen {
    std::string method;
    std::string target;
    std::string credentials; ///< the decoded Basic credentials, "" when none
};

/// base64 -> bytes with OpenSSL (independent of the library's encoder).
std::string decode_basic(std::string_view header)
{
    if (header.substr(0, 6) != "Basic ")
        return {};
    std::string_view b64 = header.substr(6);
    std::string out(b64.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
    if (n < 0)
        return "<not base64>";
    std::size_t pad = 0;
    for (auto it = b64.rbegin(); it != b64.rend() && *it == '='; ++it)
        ++pad;
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

/// A scripted HTTPS server: answers each request with `answer(request seen,
/// n)` on kept-alive connections and records every request.
class scripted_server {
public:
    using answer_fn = std::function<std::string(const seen&, int)>;

    explicit scripted_server(answer_fn answer)
        : answer_(std::move(answer)), server_([this](fault_server::socket& s) { serve(s); })
    {
    }

    std::string url(std::string_view path = "/token") const { return server_.url("https", path); }
    unsigned short port() const { return server_.port(); }
    std::vector<seen> requests()
    {
        std::lock_guard lock(mtx_);
        return seen_;
    }
    /// Requests that carried Basic credentials (token requests).
    int token_requests()
    {
        std::lock_guard lock(mtx_);
        int n = 0;
        for (auto& s : seen_)
            n += s.method == "POST";
        return n;
    }

private:
    void serve(fault_server::socket& s)
    {
        auto tls = test::server_tls_context();
        test::tls_stream st(s, tls);
        st.handshake(asio::ssl::stream_base::server);
        boost::beast::flat_buffer buf;
        for (;;) {
            bhttp::request<bhttp::string_body> req;
            bhttp::read(st, buf, req); // throws when the client goes
            seen r{std::string(req.method_string()), std::string(req.target()),
                   decode_basic(req[bhttp::field::authorization])};
            int n;
            {
                std::lock_guard lock(mtx_);
                seen_.push_back(r);
                n = static_cast<int>(seen_.size());
            }
            const std::string answer = answer_(r, n);
            if (answer == test::reset_marker) {
                test::reset(s);
                return;
            }
            test::write_raw(st, answer);
        }
    }

    answer_fn answer_;
    std::mutex mtx_;
    std::vector<seen> seen_;
    fault_server server_; // last: its thread uses the members above
};

std::string token_answer(int n, int expires_in = 3600)
{
    return http("200 OK", R"({"access_token":"tok-)" + std::to_string(n) + R"(","token_type":"Bearer","expires_in":)" +
                              std::to_string(expires_in) + "}");
}

const std::string forbidden = http("403 Forbidden", "");

/// Compares the Basic credentials literally, as some servers do: only the raw form passes.
scripted_server::answer_fn raw_only(int expires_in = 3600)
{
    return [expires_in](const seen& r, int n) { return r.credentials == raw_credentials ? token_answer(n, expires_in) : forbidden; };
}

auth_config interop_client(const std::string& url, std::string secret = reserved_secret)
{
    auto c = test::fault_client(url); // one attempt: the other Basic form is no retry
    c.client_id = client_id;
    c.client_secret = std::move(secret);
    return c;
}

std::shared_ptr<test::call_result> authorize(asio::io_context& ctx, authorization_service& auth, bool force = false,
                                             std::shared_ptr<const auth_config> per_call = {})
{
    http_client_options o;
    o.force_authorization = force;
    o.auth_config = std::move(per_call);
    return test::call(ctx, auth, o);
}

std::string rfc_credentials(const std::string& secret = reserved_secret)
{
    return form_encode(client_id) + ":" + form_encode(secret);
}

} // namespace

BOOST_AUTO_TEST_SUITE(interop)

BOOST_AUTO_TEST_CASE(literal_server_gets_the_raw_form_once_then_first)
{
    scripted_server server(raw_only());
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), interop_client(server.url()));

    auto first = authorize(ctx, auth);
    BOOST_TEST_REQUIRE(!first->ec, first->ec.message() << ' ' << first->diag);
    BOOST_TEST(first->token.value() == "tok-2");
    auto seen = server.requests();
    BOOST_TEST_REQUIRE(seen.size() == 2u); // the RFC form refused, the raw form accepted
    BOOST_TEST(seen[0].credentials == rfc_credentials());
    BOOST_TEST(seen[1].credentials == raw_credentials);

    // A new fetch (forced) on the same service: the remembered raw form at once.
    auto forced = authorize(ctx, auth, true);
    BOOST_TEST_REQUIRE(!forced->ec, forced->ec.message());
    BOOST_TEST(forced->token.value() == "tok-3");
    // Another cache key (a distinct scope) for the same endpoint and client: raw at once too.
    auto scoped = std::make_shared<auth_config>(interop_client(server.url()));
    scoped->scope = {"orders.read"};
    auto other = authorize(ctx, auth, false, scoped);
    BOOST_TEST_REQUIRE(!other->ec, other->ec.message());
    BOOST_TEST(other->token.value() == "tok-4");
    seen = server.requests();
    BOOST_TEST_REQUIRE(seen.size() == 4u); // exactly one request each
    BOOST_TEST(seen[2].credentials == raw_credentials);
    BOOST_TEST(seen[3].credentials == raw_credentials);
    BOOST_TEST(auth.stats()[metric::retry] == 0u); // the other form is not a retry
}

BOOST_AUTO_TEST_CASE(renewal_sends_the_remembered_form)
{
    scripted_server server(raw_only(4)); // 4 s tokens: renewed ahead from 2 s before expiry
    auto cfg = interop_client(server.url());
    cfg.cache.refresh_jitter = 0;
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    auto first = authorize(ctx, auth);
    BOOST_TEST_REQUIRE(!first->ec, first->ec.message());
    BOOST_TEST(server.requests().size() == 2u);
    std::this_thread::sleep_for(2200ms);
    auto served = authorize(ctx, auth); // served from the cache; starts one background renewal
    BOOST_TEST_REQUIRE(!served->ec, served->ec.message());
    BOOST_TEST(served->token.value() == "tok-2");
    BOOST_TEST(auth.stats()[metric::renewal_started] == 1u);
    BOOST_TEST(auth.stats()[metric::renewal_succeeded] == 1u);
    const auto seen = server.requests();
    BOOST_TEST_REQUIRE(seen.size() == 3u); // one request for the renewal
    BOOST_TEST(seen[2].credentials == raw_credentials);
}

BOOST_AUTO_TEST_CASE(both_forms_refused_is_client_refused_after_two_requests)
{
    scripted_server server([](const seen&, int) { return forbidden; });
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), interop_client(server.url()));
    auto r = authorize(ctx, auth);
    BOOST_TEST(r->ec == error::client_refused, r->ec.message());
    BOOST_TEST(r->token.empty());
    BOOST_TEST(r->diag.http_status() == 403u);
    BOOST_TEST(r->diag.client_message().find("then the raw form too") != std::string_view::npos, r->diag);
    auto seen = server.requests();
    BOOST_TEST_REQUIRE(seen.size() == 2u);
    BOOST_TEST(seen[0].credentials == rfc_credentials());
    BOOST_TEST(seen[1].credentials == raw_credentials);
    BOOST_TEST(auth.stats()[metric::failure] == 1u);
    // Nothing is remembered from a failure: the next fetch starts with the RFC form again.
    auto again = authorize(ctx, auth);
    BOOST_TEST(again->ec == error::client_refused);
    seen = server.requests();
    BOOST_TEST_REQUIRE(seen.size() == 4u);
    BOOST_TEST(seen[2].credentials == rfc_credentials());
}

BOOST_AUTO_TEST_CASE(invalid_client_401_to_the_rfc_form)
{
    const std::string invalid_client =
        http("401 Unauthorized", R"({"error":"invalid_client","error_description":"bad credentials"})",
             "WWW-Authenticate: Basic realm=\"as\"\r\n");
    {
        scripted_server server([&](const seen& r, int n) { return r.credentials == raw_credentials ? token_answer(n) : invalid_client; });
        asio::io_context ctx;
        authorization_service auth(ctx.get_executor(), interop_client(server.url()));
        auto r = authorize(ctx, auth);
        BOOST_TEST_REQUIRE(!r->ec, r->ec.message());
        BOOST_TEST(r->token.value() == "tok-2");
        BOOST_TEST(server.requests().size() == 2u);
    }
    {
        // Refused both times: invalid_client with the server's words (the first answer's).
        scripted_server server([&](const seen&, int) { return invalid_client; });
        asio::io_context ctx;
        authorization_service auth(ctx.get_executor(), interop_client(server.url()));
        auto r = authorize(ctx, auth);
        BOOST_TEST(r->ec == oauth_errc::invalid_client, r->ec.message());
        BOOST_TEST(r->diag.http_status() == 401u);
        BOOST_TEST(r->diag.error_description() == "bad credentials");
        BOOST_TEST(r->diag.www_authenticate() == "Basic realm=\"as\"");
        BOOST_TEST(server.requests().size() == 2u);
    }
}

BOOST_AUTO_TEST_CASE(forced_encodings_send_only_their_form)
{
    {
        scripted_server server(raw_only());
        auto cfg = interop_client(server.url());
        cfg.basic_credentials = basic_credentials_encoding::rfc6749;
        auto r = test::fetch(cfg);
        BOOST_TEST(r.ec == error::client_refused, r.ec.message());
        const auto seen = server.requests();
        BOOST_TEST_REQUIRE(seen.size() == 1u);
        BOOST_TEST(seen[0].credentials == rfc_credentials());
    }
    {
        scripted_server server(raw_only());
        auto cfg = interop_client(server.url());
        cfg.basic_credentials = basic_credentials_encoding::raw;
        auto r = test::fetch(cfg);
        BOOST_TEST_REQUIRE(!r.ec, r.ec.message());
        BOOST_TEST(r.token.value() == "tok-1");
        const auto seen = server.requests();
        BOOST_TEST_REQUIRE(seen.size() == 1u);
        BOOST_TEST(seen[0].credentials == raw_credentials);
    }
}

BOOST_AUTO_TEST_CASE(never_a_second_request_without_another_form)
{
    // No reserved character: the two forms are the same bytes.
    {
        scripted_server server([](const seen&, int) { return forbidden; });
        auto r = test::fetch(interop_client(server.url(), "Plain-Secret_1.~"));
        BOOST_TEST(r.ec == error::client_refused, r.ec.message());
        BOOST_TEST(server.requests().size() == 1u);
    }
    // client_secret_post and client_secret_jwt carry no Basic header.
    for (auto m : {client_auth_method::client_secret_post, client_auth_method::client_secret_jwt}) {
        scripted_server server([](const seen&, int) { return forbidden; });
        auto cfg = interop_client(server.url());
        cfg.auth_method = m;
        auto r = test::fetch(cfg);
        BOOST_TEST(r.ec == error::client_refused, m << ": " << r.ec.message());
        const auto seen = server.requests();
        BOOST_TEST_REQUIRE(seen.size() == 1u, m);
        BOOST_TEST(seen[0].credentials.empty());
    }
}

BOOST_AUTO_TEST_CASE(other_failures_never_try_the_other_form)
{
    const std::pair<std::string, boost::system::error_code> rows[] = {
        {http("400 Bad Request", R"({"error":"invalid_grant"})"), oauth_errc::invalid_grant},
        {http("400 Bad Request", R"({"error":"invalid_request"})"), oauth_errc::invalid_request},
        {http("401 Unauthorized", R"({"error":"unauthorized_client"})"), oauth_errc::unauthorized_client},
        {http("400 Bad Request", ""), error::unexpected_http_status},
        {http("404 Not Found", ""), error::unexpected_http_status},
        {http("500 Internal Server Error", ""), error::server_unavailable},
        {http("503 Service Unavailable", R"({"error":"temporarily_unavailable"})"), oauth_errc::temporarily_unavailable},
    };
    for (auto& [answer, code] : rows) {
        BOOST_TEST_CONTEXT(answer.substr(0, answer.find('\r')))
        {
            scripted_server server([&answer = answer](const seen&, int) { return answer; });
            auto r = test::fetch(interop_client(server.url()));
            BOOST_TEST(r.ec == code, r.ec.message());
            BOOST_TEST(server.requests().size() == 1u);
        }
    }
    // A transport failure (the connection reset before any answer): one request.
    scripted_server server([](const seen&, int) { return test::reset_marker; });
    auto r = test::fetch(interop_client(server.url()));
    BOOST_TEST(r.ec.failed());
    BOOST_TEST(r.ec != error::client_refused);
    BOOST_TEST(server.requests().size() == 1u);
}

BOOST_AUTO_TEST_CASE(discovery_with_partial_grant_list_and_issuer_path)
{
    // Keycloak-style: the issuer has a path and no trailing slash, and the
    // grant list does not name client_credentials. The token endpoint compares
    // Basic credentials literally, too.
    std::string issuer;
    scripted_server server([&issuer](const seen& r, int n) {
        if (r.method == "GET" && r.target == "/realms/x/.well-known/openid-configuration")
            return http("200 OK", R"({"issuer":")" + issuer + R"(","token_endpoint":")" + issuer +
                                      R"(/protocol/openid-connect/token","grant_types_supported":["authorization_code"],
                                      "token_endpoint_auth_methods_supported":["client_secret_basic"]})");
        if (r.method == "POST" && r.target == "/realms/x/protocol/openid-connect/token")
            return r.credentials == raw_credentials ? token_answer(n) : forbidden;
        return http("404 Not Found", "");
    });
    issuer = server.url("/realms/x");
    auto cfg = interop_client("");
    cfg.discovery_document_url = issuer + "/.well-known/openid-configuration";
    cfg.auth_method_from_discovery = true;
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    auto r = authorize(ctx, auth);
    BOOST_TEST_REQUIRE(!r->ec, r->ec.message() << ' ' << r->diag);
    BOOST_TEST(!r->token.empty());
    BOOST_TEST(server.requests().size() == 3u); // the document, the RFC form, the raw form
    BOOST_TEST(server.token_requests() == 2);
    // Remembered for the discovered token endpoint: one request next time.
    auto again = authorize(ctx, auth, true);
    BOOST_TEST_REQUIRE(!again->ec, again->ec.message());
    BOOST_TEST(server.token_requests() == 3);
    BOOST_TEST(server.requests().back().credentials == raw_credentials);
}

BOOST_AUTO_TEST_CASE(non_standard_error_string_reaches_the_user)
{
    scripted_server server([](const seen&, int) {
        return http("400 Bad Request", R"({"error":"account_locked","error_description":"locked after 5 failed logins"})");
    });
    auto r = test::fetch(interop_client(server.url()));
    BOOST_TEST(r.ec == oauth_errc::other, r.ec.message());
    BOOST_TEST(r.diag.error() == "account_locked");
    BOOST_TEST(r.diag.error_description() == "locked after 5 failed logins");
    std::ostringstream printed;
    printed << failure{r.ec, r.diag};
    BOOST_TEST(printed.str().find("error=\"account_locked\"") != std::string::npos, printed.str());
    BOOST_TEST(printed.str().find("error_description=\"locked after 5 failed logins\"") != std::string::npos);
    BOOST_TEST(server.requests().size() == 1u);
    // Thrown (with_diagnostics or outcome::value()): what() carries it too.
    const std::string what = error_with_diagnostics(r.ec, r.diag).what();
    BOOST_TEST(what.find("account_locked") != std::string::npos, what);
}

BOOST_AUTO_TEST_SUITE_END()
