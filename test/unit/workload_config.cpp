// The TetraPak keys of workload identity and DPoP: JwtBearer and
// SelfSignedTlsClientAuth, ClientAssertionFile(Variable),
// JwtBearerAssertionFile, JwtBearerSubject, DPoP, DPoPKeyFile, DPoPAlgorithm;
// from JSON and the environment, through the inheritance chain, and their errors.
#include <tetrapak/dpop.hpp>
#include <tetrapak/error.hpp>
#include <tetrapak/settings.hpp>

#include "../common/assertion_files.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <map>
#include <sstream>
#include <string>

using namespace tetrapak;
using boost::system::error_code;

namespace {

tetrapak_settings load_ok(std::string_view json)
{
    diagnostics d;
    auto r = load_settings(boost::json::parse(json), d);
    BOOST_TEST_REQUIRE(r.has_value(), json << " -> " << (r ? error_code{} : r.error()) << ' ' << d);
    return std::move(*r);
}

/// Loading `json` fails with config_invalid_value naming `path`.
void expect_invalid(std::string_view json, std::string_view path)
{
    BOOST_TEST_CONTEXT(json)
    {
        diagnostics d;
        auto r = load_settings(boost::json::parse(json), d);
        BOOST_TEST_REQUIRE(!r.has_value());
        BOOST_TEST(r.error() == make_error_code(error::config_invalid_value));
        BOOST_TEST(d.client_message() == path);
    }
}

using env_map = std::map<std::string, std::string>;

boost::system::result<auth_config> resolve(const tetrapak_settings& s, diagnostics& d, const env_map& env = {},
                                           std::string_view service = {}, std::string_view endpoint = {})
{
    return s.resolve(service, endpoint,
                     [&env](const char* name) -> const char* {
                         auto it = env.find(name);
                         return it == env.end() ? nullptr : it->second.c_str();
                     },
                     d);
}

auth_config resolve_ok(const tetrapak_settings& s, const env_map& env = {}, std::string_view service = {},
                       std::string_view endpoint = {})
{
    diagnostics d;
    auto r = resolve(s, d, env, service, endpoint);
    BOOST_TEST_REQUIRE(r.has_value(), service << '/' << endpoint << " -> " << (r ? error_code{} : r.error()) << ' ' << d);
    return std::move(*r);
}

/// `s` with the environment entries applied ("NAME=value").
tetrapak_settings with_environment(tetrapak_settings s, std::vector<std::string> entries)
{
    std::vector<const char*> ptrs;
    for (auto& e : entries)
        ptrs.push_back(e.c_str());
    ptrs.push_back(nullptr);
    diagnostics d;
    auto r = apply_environment_variables(s, ptrs.data(), d);
    BOOST_TEST_REQUIRE(r.has_value(), d);
    return s;
}

/// An EC P-256 private key as PEM.
std::string ec_pem()
{
    EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, k, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(len));
    BIO_free(bio);
    EVP_PKEY_free(k);
    return pem;
}

} // namespace

BOOST_AUTO_TEST_SUITE(workload_config)

BOOST_AUTO_TEST_CASE(jwt_bearer_grant_and_self_signed_method_names)
{
    for (auto name : {"JwtBearer", "jwt_bearer", "JWT-BEARER"})
        BOOST_TEST((parse_grant_type(name) == grant_type::jwt_bearer));
    auto s = load_ok(R"({"TetraPak": {"GrantType": "JwtBearer", "AuthMethod": "SelfSignedTlsClientAuth",
                         "ClientId": "app"}})");
    BOOST_TEST((s.root.grant == grant_type::jwt_bearer));
    BOOST_TEST((s.root.auth_method == client_auth_method::self_signed_tls_client_auth));
    auto cfg = resolve_ok(s); // mutual TLS: no secret needed
    BOOST_TEST((cfg.grant == grant_type::jwt_bearer));
    BOOST_TEST((cfg.auth_method == client_auth_method::self_signed_tls_client_auth));
    BOOST_TEST((load_ok(R"({"TetraPak": {"AuthMethod": "self_signed_tls_client_auth"}})").root.auth_method ==
                client_auth_method::self_signed_tls_client_auth));
}

BOOST_AUTO_TEST_CASE(client_assertion_file_means_private_key_jwt_without_a_secret)
{
    auto s = load_ok(R"({"TetraPak": {"ClientId": "workload-client",
                         "ClientAssertionFile": "/var/run/secrets/tokens/tetrapak"}})");
    auto cfg = resolve_ok(s);
    BOOST_TEST(cfg.client_assertion.file == "/var/run/secrets/tokens/tetrapak");
    BOOST_TEST((cfg.auth_method == client_auth_method::private_key_jwt));
    BOOST_TEST(cfg.client_secret.empty());
}

BOOST_AUTO_TEST_CASE(client_assertion_file_variable_is_read_at_resolution)
{
    auto s = load_ok(R"({"TetraPak": {"ClientId": "workload-client",
                         "ClientAssertionFileVariable": "AZURE_FEDERATED_TOKEN_FILE"}})");
    BOOST_TEST(s.root.client_assertion_file->variable == "AZURE_FEDERATED_TOKEN_FILE");
    auto cfg = resolve_ok(s, {{"AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token"}});
    BOOST_TEST(cfg.client_assertion.file == "/var/run/secrets/azure/tokens/azure-identity-token");
    BOOST_TEST((cfg.auth_method == client_auth_method::private_key_jwt));

    for (const env_map& env : {env_map{}, env_map{{"AZURE_FEDERATED_TOKEN_FILE", ""}}}) {
        diagnostics d;
        auto r = resolve(s, d, env);
        BOOST_TEST_REQUIRE(!r.has_value());
        BOOST_TEST(r.error() == make_error_code(error::config_invalid_value));
        BOOST_TEST(d.client_message() ==
                   std::string("TetraPak:ClientAssertionFileVariable: the environment variable "
                               "AZURE_FEDERATED_TOKEN_FILE ") +
                       (env.empty() ? "is not set" : "is empty"));
    }
    // No token is fetched with grant None: the variable does not matter.
    auto none = load_ok(R"({"TetraPak": {"GrantType": "None", "ClientAssertionFileVariable": "UNSET_VARIABLE"}})");
    resolve_ok(none);
}

BOOST_AUTO_TEST_CASE(bad_values_name_the_key)
{
    expect_invalid(R"({"TetraPak": {"ClientAssertionFileVariable": "1ST"}})", "TetraPak:ClientAssertionFileVariable");
    expect_invalid(R"({"TetraPak": {"ClientAssertionFileVariable": "A-B"}})", "TetraPak:ClientAssertionFileVariable");
    expect_invalid(R"({"TetraPak": {"ClientAssertionFile": 7}})", "TetraPak:ClientAssertionFile");
    expect_invalid(R"({"TetraPak": {"JwtBearerAssertionFile": "a\nb"}})", "TetraPak:JwtBearerAssertionFile");
    expect_invalid(R"({"TetraPak": {"JwtBearerSubject": ["x"]}})", "TetraPak:JwtBearerSubject");
    expect_invalid(R"({"TetraPak": {"DPoP": "yes"}})", "TetraPak:DPoP");
    expect_invalid(R"({"TetraPak": {"DPoP": 1}})", "TetraPak:DPoP");
    expect_invalid(R"({"TetraPak": {"DPoPAlgorithm": "HS256"}})", "TetraPak:DPoPAlgorithm");
    expect_invalid(R"({"TetraPak": {"Services": {"Orders": {"DPoPAlgorithm": "none"}}}})",
                   "TetraPak:Services:Orders:DPoPAlgorithm");
    expect_invalid(R"({"TetraPak": {"Services": {"Orders": {"Endpoints": {"Get": {"DPoPKeyFile": {}}}}}}})",
                   "TetraPak:Services:Orders:Endpoints:Get:DPoPKeyFile");
}

BOOST_AUTO_TEST_CASE(nearest_level_wins)
{
    auto s = load_ok(R"({"TetraPak": {
        "ClientId": "app", "ClientSecret": "s", "ClientAssertionFile": "/root/token",
        "JwtBearerAssertionFile": "/root/grant", "JwtBearerSubject": "root-sub",
        "Services": {
            "Orders": {"ClientAssertionFile": "/orders/token", "JwtBearerSubject": "orders-sub",
                       "Endpoints": {"Post": {"Path": "/p", "AuthMethod": "client_secret_post"}}},
            "Billing": {"AuthMethod": "client_secret_post"}}}})");
    auto root = resolve_ok(s);
    BOOST_TEST(root.client_assertion.file == "/root/token");
    BOOST_TEST(root.jwt_bearer_assertion.file == "/root/grant");
    BOOST_TEST(root.jwt_bearer_subject == "root-sub");
    BOOST_TEST((root.auth_method == client_auth_method::private_key_jwt));

    auto orders = resolve_ok(s, {}, "Orders");
    BOOST_TEST(orders.client_assertion.file == "/orders/token");
    BOOST_TEST(orders.jwt_bearer_assertion.file == "/root/grant");
    BOOST_TEST(orders.jwt_bearer_subject == "orders-sub");
    BOOST_TEST((orders.auth_method == client_auth_method::private_key_jwt));

    // An AuthMethod nearer than the assertion file decides.
    auto post = resolve_ok(s, {}, "Orders", "Post");
    BOOST_TEST((post.auth_method == client_auth_method::client_secret_post));
    auto billing = resolve_ok(s, {}, "Billing");
    BOOST_TEST((billing.auth_method == client_auth_method::client_secret_post));
}

BOOST_AUTO_TEST_CASE(environment_variables_set_the_keys)
{
    auto s = with_environment(load_ok(R"({"TetraPak": {"ClientId": "app", "ClientAssertionFile": "/json/token",
                                          "Services": {"Orders": {}}}})"),
                              {"TetraPak__ClientAssertionFileVariable=MY_TOKEN_FILE",
                               "TetraPak__Services__Orders__JwtBearerAssertionFile=/env/grant",
                               "TetraPak__Services__Orders__GrantType=jwt_bearer",
                               "TetraPak__Services__Orders__DPoP=TRUE", "TetraPak__DPoPAlgorithm=es256"});
    // The variable form read last replaces the file at the same level.
    BOOST_TEST((s.root.client_assertion_file == assertion_file_setting{"", "MY_TOKEN_FILE"}));
    BOOST_TEST((s.root.dpop_algorithm == "ES256"));
    auto orders = resolve_ok(s, {{"MY_TOKEN_FILE", "/env/token"}}, "Orders");
    BOOST_TEST(orders.client_assertion.file == "/env/token");
    BOOST_TEST(orders.jwt_bearer_assertion.file == "/env/grant");
    BOOST_TEST((orders.grant == grant_type::jwt_bearer));
    BOOST_TEST(orders.dpop.enabled);
    BOOST_TEST(!orders.dpop.key); // ES256: the service's own key

    diagnostics d;
    const char* bad[] = {"TetraPak__Services__Orders__DPoP=maybe", nullptr};
    BOOST_TEST(!apply_environment_variables(s, bad, d).has_value());
    BOOST_TEST(d.client_message() == "TetraPak:Services:Orders:DPoP (environment variable TetraPak__Services__Orders__DPoP)");
}

BOOST_AUTO_TEST_CASE(dpop_switch_algorithm_and_generated_keys)
{
    auto off = resolve_ok(load_ok(R"({"TetraPak": {"ClientId": "app", "ClientSecret": "s"}})"));
    BOOST_TEST(!off.dpop.enabled);
    auto on = resolve_ok(load_ok(R"({"TetraPak": {"ClientId": "app", "ClientSecret": "s", "DPoP": true}})"));
    BOOST_TEST(on.dpop.enabled);
    BOOST_TEST(!on.dpop.key);
    auto eddsa = resolve_ok(load_ok(R"({"TetraPak": {"ClientId": "app", "ClientSecret": "s", "DPoP": "true",
                                        "DPoPAlgorithm": "eddsa"}})"));
    BOOST_TEST(eddsa.dpop.enabled);
    BOOST_TEST_REQUIRE(eddsa.dpop.key != nullptr);
    BOOST_TEST(eddsa.dpop.key->algorithm() == "EdDSA");
    // An algorithm alone does not turn DPoP on.
    auto alg_only = resolve_ok(load_ok(R"({"TetraPak": {"ClientId": "app", "ClientSecret": "s",
                                           "DPoPAlgorithm": "PS256"}})"));
    BOOST_TEST(!alg_only.dpop.enabled);
}

BOOST_AUTO_TEST_CASE(dpop_key_file_implies_dpop_and_is_loaded)
{
    test::temp_dir dir;
    const std::string key_file = dir.file("dpop.pem");
    test::write_file(key_file, ec_pem());
    std::ostringstream json;
    json << R"({"TetraPak": {"ClientId": "app", "ClientSecret": "s", "DPoPKeyFile": ")" << key_file << R"(",
               "Services": {"Plain": {"DPoP": false}, "Explicit": {"DPoP": true}}}})";
    auto s = load_ok(json.str());
    auto root = resolve_ok(s);
    BOOST_TEST(root.dpop.enabled);
    BOOST_TEST_REQUIRE(root.dpop.key != nullptr);
    BOOST_TEST(root.dpop.key->algorithm() == "ES256");
    BOOST_TEST(!root.dpop.key->thumbprint().empty());
    BOOST_TEST(!resolve_ok(s, {}, "Plain").dpop.enabled); // a nearer DPoP false turns it off
    BOOST_TEST(resolve_ok(s, {}, "Explicit").dpop.key->thumbprint() == root.dpop.key->thumbprint());
}

BOOST_AUTO_TEST_CASE(dpop_key_problems_name_the_key)
{
    test::temp_dir dir;
    const std::string missing = dir.file("missing.pem");
    std::ostringstream json;
    json << R"({"TetraPak": {"ClientId": "app", "ClientSecret": "s", "Services": {"Orders": {"DPoPKeyFile": ")"
         << missing << R"("}}}})";
    auto s = load_ok(json.str());
    diagnostics d;
    auto r = resolve(s, d, {}, "Orders");
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error() == make_error_code(error::key_load_failed));
    const std::string m(d.client_message());
    BOOST_TEST(m.rfind("TetraPak:Services:Orders:DPoPKeyFile: the private key file cannot be opened", 0) == 0, m);

    // An EC key cannot sign RS256.
    const std::string ec_file = dir.file("ec.pem");
    test::write_file(ec_file, ec_pem());
    json.str("");
    json << R"({"TetraPak": {"ClientId": "app", "ClientSecret": "s", "DPoPAlgorithm": "RS256", "DPoPKeyFile": ")"
         << ec_file << R"("}})";
    auto mismatch = load_ok(json.str());
    auto rm = resolve(mismatch, d);
    BOOST_TEST_REQUIRE(!rm.has_value());
    BOOST_TEST(rm.error() == make_error_code(error::key_load_failed));
    BOOST_TEST(std::string(d.client_message()).rfind("TetraPak:DPoPKeyFile: ", 0) == 0, d.client_message());
}

BOOST_AUTO_TEST_SUITE_END()
