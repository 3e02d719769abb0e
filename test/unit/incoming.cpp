// The caller's token from an incoming Beast request (the subject of a token exchange).
#include <tetrapak/incoming.hpp>
#include <tetrapak/signing_key.hpp>

#include <boost/beast/http/fields.hpp>
#include <boost/test/unit_test.hpp>

#include <string>

using namespace tetrapak;
namespace http = boost::beast::http;

namespace {

http::fields with(std::string_view name, std::string_view value)
{
    http::fields f;
    f.insert(name, value);
    return f;
}

std::string jwt(std::string_view payload)
{
    return base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(payload) + ".c2ln";
}

} // namespace

BOOST_AUTO_TEST_SUITE(incoming)

BOOST_AUTO_TEST_CASE(bearer_in_authorization)
{
    const auto t = jwt(R"({"sub":"alice","userType":"User","exp":4102444800})");
    for (auto scheme : {"Bearer ", "bearer ", "BEARER  "}) {
        auto got = incoming_token(with("Authorization", std::string(scheme) + t));
        BOOST_TEST(got.value() == t);
        BOOST_TEST(got.is_jwt());
        BOOST_TEST((got.string_claim("sub") == std::string_view("alice")));
    }
    BOOST_TEST(incoming_token(with("authorization", "Bearer abc.def-_~+/==")).value() == "abc.def-_~+/==");
}

BOOST_AUTO_TEST_CASE(what_is_not_a_bearer_token_gives_the_empty_token)
{
    BOOST_TEST(incoming_token(http::fields{}).empty());
    BOOST_TEST(incoming_token(with("Authorization", "Basic dXNlcjpwYXNz")).empty());
    BOOST_TEST(incoming_token(with("Authorization", "abc")).empty()); // no scheme
    BOOST_TEST(incoming_token(with("Authorization", "Bearer ")).empty());
    BOOST_TEST(incoming_token(with("Authorization", "Bearer a b")).empty());
    BOOST_TEST(incoming_token(with("Authorization", "Bearer a=b")).empty());
    BOOST_TEST(incoming_token(with("Authorization", "Bearer \"quoted\"")).empty());
    http::fields twice;
    twice.insert("Authorization", "Bearer one");
    twice.insert("Authorization", "Bearer two");
    BOOST_TEST(incoming_token(twice).empty()); // ambiguous
}

BOOST_AUTO_TEST_CASE(custom_header_takes_a_bare_or_bearer_token)
{
    BOOST_TEST(incoming_token(with("X-Caller-Token", "  tok123  "), "X-Caller-Token").value() == "tok123");
    BOOST_TEST(incoming_token(with("x-caller-token", "Bearer tok123"), "X-Caller-Token").value() == "tok123");
    BOOST_TEST(incoming_token(with("Authorization", "Bearer tok123"), "X-Caller-Token").empty());
    BOOST_TEST(incoming_token(with("X-Caller-Token", "tok 123"), "X-Caller-Token").empty());
}

BOOST_AUTO_TEST_SUITE_END()
