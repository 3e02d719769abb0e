// Certificate and host-name verification against the real server serving
// different certificates.
#include "oidc_server.hpp"
#include "fetch.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

using namespace tetrapak;
namespace asio = boost::asio;
using boost::system::error_code;
using test::fetch;

namespace {


void expect_refused(const std::string& cert, std::string_view reason, bool use_localhost = false)
{
    test::oidc_server server({cert});
    auto cfg = test::basic_client(server);
    if (use_localhost)
        cfg.token_endpoint = "https://localhost:" + std::to_string(server.port()) + "/token";
    auto f = fetch(cfg);
    BOOST_TEST(f.ec == error::tls_verification_failed, cert << ": " << f.ec.message());
    BOOST_TEST(f.token.empty());
    BOOST_TEST(f.diag.client_message().find(reason) != std::string_view::npos, f.diag.client_message());
}

} // namespace

BOOST_AUTO_TEST_SUITE(tls_verify)

BOOST_AUTO_TEST_CASE(trusted_ca_and_matching_ip_succeeds)
{
    auto f = fetch(test::basic_client(test::default_server()));
    BOOST_TEST(!f.ec, f.ec.message());
}

BOOST_AUTO_TEST_CASE(untrusted_ca_is_refused)
{
    expect_refused("other-server", "unable to get local issuer certificate");
}

BOOST_AUTO_TEST_CASE(system_trust_store_does_not_know_the_test_ca)
{
    auto cfg = test::basic_client(test::default_server());
    cfg.tls.ca_file.clear(); // default verify paths
    auto f = fetch(cfg);
    BOOST_TEST(f.ec == error::tls_verification_failed);
}

BOOST_AUTO_TEST_CASE(wrong_host_name_is_refused)
{
    expect_refused("wronghost", "mismatch");       // by IP address
    expect_refused("wronghost", "mismatch", true); // by name
}

BOOST_AUTO_TEST_CASE(expired_certificate_is_refused)
{
    expect_refused("expired", "certificate has expired");
}

BOOST_AUTO_TEST_CASE(explicit_insecure_option_skips_verification)
{
    test::oidc_server server({"other-server"});
    auto cfg = test::basic_client(server);
    cfg.tls.insecure_disable_verification_i_know_what_i_am_doing = true;
    auto f = fetch(cfg);
    BOOST_TEST(!f.ec, f.ec.message());
    BOOST_TEST(!f.token.empty());
}

BOOST_AUTO_TEST_SUITE_END()
