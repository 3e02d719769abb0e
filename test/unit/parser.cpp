// The token response and error parser (RFC 6749 §5.1, §5.2): every shape.
#include <tetrapak/error.hpp>
#include <tetrapak/protocol.hpp>
#include <tetrapak/signing_key.hpp>

#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>


using namespace tetrapak;
using namespace std::chrono_literals;
using clock_type = std::chrono::system_clock;

namespace {

const clock_type::time_point t0 = clock_type::time_point{std::chrono::seconds{1'800'000'000}};

boost::system::result<actor_token> parse(unsigned status, std::string_view body, diagnostics& d,
                                         std::string_view retry_after = {}, std::string_view www = {})
{
    parse_options o{t0, 300s};
    return parse_token_response({status, body, retry_after, www}, o, d);
}

using tetrapak::base64url_encode;

std::string make_jwt(std::string_view payload)
{
    return base64url_encode(R"({"alg":"RS256","typ":"JWT"})") + "." + base64url_encode(payload) + ".c2lnbmF0dXJl";
}

} // namespace

BOOST_AUTO_TEST_SUITE(parser)

BOOST_AUTO_TEST_CASE(minimal_success)
{
    diagnostics d;
    auto r = parse(200, R"({"access_token":"abc","token_type":"Bearer","expires_in":3600})", d);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->value() == "abc");
    BOOST_TEST(r->token_type() == "Bearer");
    BOOST_TEST((r->expires_at() == t0 + 3600s));
    BOOST_TEST((r->issued_at() == t0));
    BOOST_TEST(r->scope().empty());
    BOOST_TEST(!r->refresh_token());
    BOOST_TEST(!r->is_jwt());
    BOOST_TEST(d.empty()); // success leaves nothing to report
}

BOOST_AUTO_TEST_CASE(token_type_is_case_insensitive_and_never_glued)
{
    for (auto tt : {"bearer", "BEARER", "BeArEr"}) {
        diagnostics d;
        auto r = parse(200, std::string(R"({"access_token":"tok","token_type":")") + tt + R"("})", d);
        BOOST_TEST_REQUIRE(r.has_value());
        BOOST_TEST(r->token_type() == "Bearer");
        BOOST_TEST(r->value() == "tok");
        BOOST_TEST(r->authorization_header() == "Bearer tok");
    }
    diagnostics d;
    auto na = parse(200, R"({"access_token":"tok","token_type":"n_a"})", d);
    BOOST_TEST_REQUIRE(na.has_value());
    BOOST_TEST(na->token_type() == "N_A");
}

BOOST_AUTO_TEST_CASE(missing_token_type_defaults_to_bearer)
{
    diagnostics d;
    auto r = parse(200, R"({"access_token":"tok"})", d);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->token_type() == "Bearer");
}

BOOST_AUTO_TEST_CASE(unknown_token_type_is_refused)
{
    for (auto body : {R"({"access_token":"t","token_type":"mac"})", R"({"access_token":"t","token_type":"PoP"})"}) {
        diagnostics d;
        auto r = parse(200, body, d);
        BOOST_TEST((r.error() == error::unsupported_token_type));
    }
    diagnostics d;
    BOOST_TEST((parse(200, R"({"access_token":"t","token_type":5})", d).error() == error::malformed_response));
}

namespace {
/// A JWT (unsigned: the parser never verifies) with `payload`.
std::string jwt_with(const std::string& payload)
{
    return base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(payload) + ".x";
}
} // namespace

BOOST_AUTO_TEST_CASE(dpop_token_type_needs_a_proof_key_that_matches_cnf_jkt)
{
    const std::string bound = jwt_with(R"({"exp":4102444800,"cnf":{"jkt":"abc"}})");
    const std::string body = R"({"access_token":")" + bound + R"(","token_type":"dpop","expires_in":60})";
    parse_options with_key;
    with_key.dpop_jkt = "abc";
    diagnostics d;
    auto ok = parse_token_response({200, body, {}, {}}, with_key, d);
    BOOST_TEST_REQUIRE(ok.has_value(), d);
    BOOST_TEST(ok->token_type() == "DPoP");
    BOOST_TEST(ok->is_dpop_bound());
    BOOST_TEST(ok->authorization_header() == "DPoP " + bound);

    parse_options other_key;
    other_key.dpop_jkt = "xyz";
    auto wrong = parse_token_response({200, body, {}, {}}, other_key, d);
    BOOST_TEST((wrong.error() == error::dpop_key_mismatch));
    BOOST_TEST(d.client_message().find("cnf.jkt") != std::string_view::npos, d);

    auto no_key = parse_token_response({200, body, {}, {}}, parse_options{}, d);
    BOOST_TEST((no_key.error() == error::dpop_key_mismatch)); // DPoP answer to a request without a proof

    // A bound JWT labelled Bearer without a proof sent: refused too.
    const std::string as_bearer = R"({"access_token":")" + bound + R"(","token_type":"Bearer"})";
    BOOST_TEST((parse_token_response({200, as_bearer, {}, {}}, parse_options{}, d).error() == error::dpop_key_mismatch));

    // A Bearer answer to a DPoP request (a server without DPoP): a Bearer token.
    auto bearer = parse_token_response({200, R"({"access_token":"opaque","token_type":"Bearer"})", {}, {}}, with_key, d);
    BOOST_TEST_REQUIRE(bearer.has_value(), d);
    BOOST_TEST(!bearer->is_dpop_bound());
    BOOST_TEST(bearer->authorization_header() == "Bearer opaque");

    // An opaque DPoP token (no cnf to check): kept as DPoP.
    auto opaque = parse_token_response({200, R"({"access_token":"opaque","token_type":"DPoP"})", {}, {}}, with_key, d);
    BOOST_TEST_REQUIRE(opaque.has_value(), d);
    BOOST_TEST(opaque->is_dpop_bound());
}

BOOST_AUTO_TEST_CASE(expires_in_number_string_and_double)
{
    struct row {
        const char* body;
        std::chrono::seconds expected;
    } rows[] = {
        {R"({"access_token":"t","expires_in":60})", 60s},
        {R"({"access_token":"t","expires_in":"60"})", 60s},
        {R"({"access_token":"t","expires_in":60.9})", 60s},
        {R"({"access_token":"t","expires_in":0})", 0s},
        {R"({"access_token":"t","expires_in":315360000})", 315360000s},
    };
    for (std::size_t i = 0; i < std::size(rows); ++i) {
        diagnostics d;
        auto r = parse(200, rows[i].body, d);
        BOOST_TEST_REQUIRE(r.has_value(), rows[i].body);
        BOOST_TEST((r->expires_at() == t0 + rows[i].expected), rows[i].body);
    }
}

BOOST_AUTO_TEST_CASE(expires_in_invalid)
{
    for (auto body : {R"({"access_token":"t","expires_in":-1})", R"({"access_token":"t","expires_in":"-5"})",
                      R"({"access_token":"t","expires_in":"soon"})", R"({"access_token":"t","expires_in":"60s"})",
                      R"({"access_token":"t","expires_in":""})", R"({"access_token":"t","expires_in":1e300})",
                      R"({"access_token":"t","expires_in":18446744073709551615})",
                      R"({"access_token":"t","expires_in":true})", R"({"access_token":"t","expires_in":[1]})"}) {
        diagnostics d;
        auto r = parse(200, body, d);
        BOOST_TEST((r.error() == error::invalid_expires_in), body);
        BOOST_TEST(d.client_message() == "expires_in");
    }
}

BOOST_AUTO_TEST_CASE(missing_expires_in_uses_jwt_exp_then_default)
{
    diagnostics d;
    auto r = parse(200, R"({"access_token":"opaque"})", d);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST((r->expires_at() == t0 + 300s));

    auto jwt = make_jwt(R"({"sub":"x","exp":1800000900,"userType":"System"})");
    auto j = parse(200, R"({"access_token":")" + jwt + R"("})", d);
    BOOST_TEST_REQUIRE(j.has_value());
    BOOST_TEST(j->is_jwt());
    BOOST_TEST((j->expires_at() == clock_type::time_point{std::chrono::seconds{1800000900}}));
    BOOST_TEST((j->string_claim("userType") == std::string_view("System")));

    // expires_in wins over exp when both are present
    auto k = parse(200, R"({"access_token":")" + jwt + R"(","expires_in":10})", d);
    BOOST_TEST_REQUIRE(k.has_value());
    BOOST_TEST((k->expires_at() == t0 + 10s));
}

BOOST_AUTO_TEST_CASE(scope_string_or_array)
{
    diagnostics d;
    auto s = parse(200, R"({"access_token":"t","scope":"read  write api:all"})", d);
    BOOST_TEST_REQUIRE(s.has_value());
    BOOST_TEST_REQUIRE(s->scope().size() == 3u);
    BOOST_TEST(s->scope()[0] == "read");
    BOOST_TEST(s->scope()[2] == "api:all");
    auto a = parse(200, R"({"access_token":"t","scope":["read","write"]})", d);
    BOOST_TEST_REQUIRE(a.has_value());
    BOOST_TEST(a->scope().size() == 2u);
    BOOST_TEST((parse(200, R"({"access_token":"t","scope":[1]})", d).error() == error::malformed_response));
    BOOST_TEST((parse(200, R"({"access_token":"t","scope":{}})", d).error() == error::malformed_response));
}

BOOST_AUTO_TEST_CASE(refresh_and_issued_token_type_kept)
{
    diagnostics d;
    auto r = parse(200,
                   R"({"access_token":"t","refresh_token":"r1","issued_token_type":"urn:ietf:params:oauth:token-type:access_token"})",
                   d);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST((r->refresh_token() == std::string_view("r1")));
    BOOST_TEST(r->issued_token_type() == "urn:ietf:params:oauth:token-type:access_token");
    BOOST_TEST((parse(200, R"({"access_token":"t","refresh_token":7})", d).error() == error::malformed_response));
    BOOST_TEST((parse(200, R"({"access_token":"t","issued_token_type":[]})", d).error() == error::malformed_response));
}

BOOST_AUTO_TEST_CASE(success_without_access_token_is_an_error)
{
    for (auto body : {R"({})", R"({"access_token":""})", R"({"access_token":null})", R"({"access_token":12})",
                      R"({"token_type":"Bearer","expires_in":10})"}) {
        diagnostics d;
        auto r = parse(200, body, d);
        BOOST_TEST((r.error() == error::missing_access_token), body);
    }
}

BOOST_AUTO_TEST_CASE(non_json_and_non_object)
{
    for (auto body : {"", "<html>oops</html>", "[1,2]", "\"tok\"", "{\"access_token\":", "null"}) {
        diagnostics d;
        auto r = parse(200, body, d);
        BOOST_TEST((r.error() == error::malformed_response), body);
    }
}

BOOST_AUTO_TEST_CASE(token_with_space_or_control_is_refused)
{
    diagnostics d;
    BOOST_TEST((parse(200, R"({"access_token":"a b"})", d).error() == error::malformed_response));
    BOOST_TEST((parse(200, R"({"access_token":"a\r\nX-Evil: 1"})", d).error() == error::malformed_response));
}

BOOST_AUTO_TEST_CASE(oauth_error_body)
{
    diagnostics d;
    auto r = parse(401, R"({"error":"invalid_client","error_description":"client authentication failed","error_uri":"https://e/x"})",
                   d, {}, R"(Basic realm="x", error="invalid_client")");
    BOOST_TEST((r.error() == oauth_errc::invalid_client));
    BOOST_TEST(d.error() == "invalid_client");
    BOOST_TEST(d.error_description() == "client authentication failed");
    BOOST_TEST(d.error_uri() == "https://e/x");
    BOOST_TEST(d.http_status() == 401u);
    BOOST_TEST(d.www_authenticate() == R"(Basic realm="x", error="invalid_client")");
}

BOOST_AUTO_TEST_CASE(every_rfc_error_maps)
{
    const std::pair<const char*, oauth_errc> rows[] = {
        {"invalid_request", oauth_errc::invalid_request},
        {"invalid_client", oauth_errc::invalid_client},
        {"invalid_grant", oauth_errc::invalid_grant},
        {"unauthorized_client", oauth_errc::unauthorized_client},
        {"unsupported_grant_type", oauth_errc::unsupported_grant_type},
        {"invalid_scope", oauth_errc::invalid_scope},
        {"invalid_target", oauth_errc::invalid_target},
        {"temporarily_unavailable", oauth_errc::temporarily_unavailable},
        {"something_new", oauth_errc::other},
    };
    for (auto& [name, code] : rows) {
        diagnostics d;
        auto r = parse(400, std::string(R"({"error":")") + name + "\"}", d);
        BOOST_TEST((r.error() == code), name);
        BOOST_TEST(d.error() == name);
    }
}

BOOST_AUTO_TEST_CASE(error_on_200_without_token_is_an_oauth_error)
{
    diagnostics d;
    auto r = parse(200, R"({"error":"invalid_grant","error_description":"expired"})", d);
    BOOST_TEST((r.error() == oauth_errc::invalid_grant));
    BOOST_TEST(d.error_description() == "expired");
}

BOOST_AUTO_TEST_CASE(status_without_oauth_body)
{
    const std::pair<unsigned, error> rows[] = {
        {302, error::redirect_not_followed}, {301, error::redirect_not_followed}, {429, error::too_many_requests},
        {500, error::server_unavailable},    {503, error::server_unavailable},    {404, error::unexpected_http_status},
        {401, error::client_refused},        {403, error::client_refused},        {100, error::unexpected_http_status},
        {400, error::unexpected_http_status},
    };
    for (auto [status, code] : rows) {
        diagnostics d;
        auto r = parse(status, "<html>nope</html>", d);
        BOOST_TEST((r.error() == code), status);
        BOOST_TEST(d.http_status() == status);
    }
}

BOOST_AUTO_TEST_CASE(retry_after_in_diagnostics)
{
    diagnostics d;
    auto r = parse(429, "", d, "120");
    BOOST_TEST((r.error() == error::too_many_requests));
    BOOST_TEST_REQUIRE(d.retry_after().has_value());
    BOOST_TEST(d.retry_after()->count() == 120);
    auto r2 = parse(503, R"({"error":"temporarily_unavailable"})", d, "7");
    BOOST_TEST((r2.error() == oauth_errc::temporarily_unavailable));
    BOOST_TEST(d.retry_after()->count() == 7);
}

BOOST_AUTO_TEST_CASE(retry_after_forms)
{
    auto now = clock_type::from_time_t(784111777); // Sun, 06 Nov 1994 08:49:37 GMT
    BOOST_TEST(parse_retry_after("0", now)->count() == 0);
    BOOST_TEST(parse_retry_after(" 30 ", now)->count() == 30);
    BOOST_TEST(parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now)->count() == 60);
    BOOST_TEST(parse_retry_after("Sun, 06 Nov 1994 08:40:37 GMT", now)->count() == 0); // in the past
    BOOST_TEST(!parse_retry_after("", now));
    BOOST_TEST(!parse_retry_after("soon", now));
    BOOST_TEST(!parse_retry_after("-5", now));
    BOOST_TEST(!parse_retry_after("12abc", now));
    BOOST_TEST(!parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT trailing", now));
}

BOOST_AUTO_TEST_CASE(long_server_text_is_capped)
{
    diagnostics d;
    std::string desc(100000, 'x');
    auto r = parse(400, R"({"error":"invalid_request","error_description":")" + desc + "\"}", d);
    BOOST_TEST((r.error() == oauth_errc::invalid_request));
    BOOST_TEST(d.error_description().size() == 2048u);
}

BOOST_AUTO_TEST_CASE(jwt_decoding)
{
    BOOST_TEST(!decode_jwt_payload("opaque"));
    BOOST_TEST(!decode_jwt_payload("a.b"));
    BOOST_TEST(!decode_jwt_payload("a.b.c.d"));
    BOOST_TEST(!decode_jwt_payload(base64url_encode("{}") + "." + base64url_encode(R"({"sub":1})") + ".x")); // header lacks alg
    BOOST_TEST(!decode_jwt_payload(base64url_encode(R"({"alg":"none"})") + "." + base64url_encode("[1]") + ".x"));
    BOOST_TEST(!decode_jwt_payload(base64url_encode(R"({"alg":"none"})") + ".!!!.x"));
    auto p = decode_jwt_payload(make_jwt(R"({"sub":"me","exp":1,"n":"ü"})"));
    BOOST_TEST_REQUIRE(p.has_value());
    BOOST_TEST(p->at("sub").as_string() == "me");
    // every padding length
    for (std::string s : {"{\"a\":1}", "{\"ab\":1}", "{\"abc\":1}"}) {
        auto q = decode_jwt_payload(base64url_encode(R"({"alg":"x"})") + "." + base64url_encode(s) + ".sig");
        BOOST_TEST(q.has_value(), s);
    }
}

BOOST_AUTO_TEST_SUITE_END()
