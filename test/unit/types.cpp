// Core types: actor_token, errors, diagnostics, outcome, redaction.
#include <tetrapak.hpp>

#include <boost/test/unit_test.hpp>

#include <sstream>

using namespace tetrapak;

namespace {
template <class T>
std::string str(const T& v)
{
    std::ostringstream os;
    os << v;
    return os.str();
}
} // namespace

BOOST_AUTO_TEST_SUITE(types)

BOOST_AUTO_TEST_CASE(actor_token_strips_bearer_and_redacts)
{
    actor_token t("Bearer s3cr3t-token-value");
    BOOST_TEST(t.value() == "s3cr3t-token-value");
    BOOST_TEST(!t.is_jwt());
    auto printed = str(t);
    BOOST_TEST(printed.find("s3cr3t") == std::string::npos);
    BOOST_TEST(printed.find(t.fingerprint()) != std::string::npos);
    BOOST_TEST(t.fingerprint().size() == 8u);
    BOOST_TEST(str(actor_token{}) == "actor_token{empty}");
    BOOST_TEST(actor_token{}.empty());
}

BOOST_AUTO_TEST_CASE(actor_token_copies_share_state)
{
    actor_token::fields f;
    f.value = "abc";
    f.refresh_token = "refresh-secret";
    actor_token a(f), b = a;
    BOOST_TEST((a == b));
    BOOST_TEST(a.value().data() == b.value().data());
    BOOST_TEST(str(a).find("refresh-secret") == std::string::npos);
    BOOST_TEST(str(a).find("refresh_token=<redacted>") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(secrets_never_print)
{
    auth_config c;
    c.client_id = "visible-id";
    c.client_secret = "hunter2-secret";
    auto s = str(c);
    BOOST_TEST(s.find("hunter2") == std::string::npos);
    BOOST_TEST(s.find("visible-id") != std::string::npos);
    http_client_options o{std::make_shared<auth_config>(c), actor_token("incoming-token-xyz"), true};
    auto so = str(o);
    BOOST_TEST(so.find("hunter2") == std::string::npos);
    BOOST_TEST(so.find("incoming-token-xyz") == std::string::npos);
    BOOST_TEST(str(secret("x")) == "<redacted>");
}

BOOST_AUTO_TEST_CASE(error_categories_and_messages)
{
    boost::system::error_code ec = error::missing_client_id;
    BOOST_TEST(ec.category().name() == std::string("tetrapak.client"));
    BOOST_TEST(ec.message().find("client_id") != std::string::npos);
    boost::system::error_code oc = oauth_errc::invalid_client;
    BOOST_TEST(oc.category().name() == std::string("tetrapak.oauth"));
    BOOST_TEST(oc.message().find("check client_id") != std::string::npos);
    BOOST_TEST(ec != oc);
    for (int i = 1; i <= static_cast<int>(error::unsupported_token_type); ++i) { // every code has its own message
        boost::system::error_code e(i, client_category());
        BOOST_TEST(e.message() != "unknown tetrapak client error", i);
    }
    BOOST_TEST(oauth_errc_from_string("invalid_grant") == oauth_errc::invalid_grant);
    BOOST_TEST(oauth_errc_from_string("nope") == oauth_errc::other);
    BOOST_TEST(to_string(oauth_errc::invalid_scope) == "invalid_scope");
}

BOOST_AUTO_TEST_CASE(outcome_throws_with_diagnostics)
{
    diagnostics d;
    detail::diagnostics_access::error_description(d) = "client \"authentication\" failed";
    detail::diagnostics_access::http_status(d) = 401;
    outcome<actor_token> o(boost::system::in_place_error, failure{oauth_errc::invalid_client, d});
    BOOST_TEST(!o.has_value());
    BOOST_TEST(o.error().code == oauth_errc::invalid_client);
    try {
        (void)o.value();
        BOOST_FAIL("value() did not throw");
    } catch (const error_with_diagnostics& e) {
        BOOST_TEST(e.code() == oauth_errc::invalid_client);
        BOOST_TEST(e.get_diagnostics().error_description() == "client \"authentication\" failed");
        std::string what = e.what();
        BOOST_TEST(what.find(R"(error_description="client \"authentication\" failed")") != std::string::npos);
        BOOST_TEST(what.find("http_status=401") != std::string::npos);
    }
    outcome<actor_token> ok(actor_token("t"));
    BOOST_TEST(ok.has_value());
    BOOST_TEST(ok->value() == "t");
}

BOOST_AUTO_TEST_SUITE_END()
