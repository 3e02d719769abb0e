// Workload identity without a network: external assertions from files that a
// platform rotates and from callbacks (lib/assertion_source), and the token
// requests that carry them (private_key_jwt from a file, the RFC 7523
// jwt_bearer grant).
#include <tetrapak/error.hpp>
#include <tetrapak/protocol.hpp>
#include <tetrapak/signing_key.hpp>

#include "assertion_source.hpp"

#include "../common/assertion_files.hpp"
#include "../common/form.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <map>
#include <stdexcept>

using namespace tetrapak;
using namespace std::chrono_literals;
using test::temp_dir;
using test::unsigned_jwt;
using sys_time = std::chrono::system_clock::time_point;

namespace {

/// A fixed "now", whole seconds (JWT times are).
const sys_time now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());

/// A JWT expiring at `exp` whose length does not depend on `jti` (4 characters).
std::string jwt_expiring(sys_time exp, std::string_view jti = "aaaa")
{
    return unsigned_jwt({{"iss", "https://platform.example"}, {"sub", "system:serviceaccount:ns:app"},
                         {"aud", "https://auth.example.com/oauth2/token"}, {"jti", jti},
                         {"exp", test::numeric_date(exp)}});
}

boost::system::result<std::string> read_file_assertion(const std::string& path, sys_time at, diagnostics& d)
{
    external_assertion src;
    src.file = path;
    return detail::read_external_assertion(src, at, d);
}

boost::system::result<std::string> read_callback_assertion(std::function<std::string()> f, diagnostics& d)
{
    external_assertion src;
    src.callback = std::move(f);
    return detail::read_external_assertion(src, now, d);
}

/// The file read fails with `code` and the message is exactly `message`.
void expect_file_error(const std::string& path, error code, const std::string& message, sys_time at = now)
{
    diagnostics d;
    auto r = read_file_assertion(path, at, d);
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error() == make_error_code(code));
    BOOST_TEST(d.client_message() == message);
}

/// Rewrites `path` in place with `content` of the same size, keeping its mtime:
/// device, inode, size and modification time all stay as they were.
void rewrite_unnoticeably(const std::string& path, std::string_view content)
{
    const timespec before = test::mtime_of(path);
    const ino_t inode = test::inode_of(path);
    test::write_file(path, content);
    test::set_mtime(path, before);
    BOOST_TEST_REQUIRE(test::inode_of(path) == inode);
}

} // namespace

BOOST_AUTO_TEST_SUITE(workload_identity_unit)

BOOST_AUTO_TEST_CASE(missing_file_names_the_file_and_errno)
{
    temp_dir dir;
    const std::string path = dir.file("token");
    expect_file_error(path, error::client_assertion_unavailable, "client assertion file " + path + ": not found (ENOENT)");
    expect_file_error(dir.file("token/below-a-file"), error::client_assertion_unavailable,
                      "client assertion file " + dir.file("token/below-a-file") + ": not found (ENOENT)");
    test::write_file(path, jwt_expiring(now + 1h));
    expect_file_error(path + "/x", error::client_assertion_unavailable,
                      "client assertion file " + path + "/x: a component of the path is not a directory (ENOTDIR)");
    expect_file_error(dir.file(""), error::client_assertion_unavailable,
                      "client assertion file " + dir.file("") + ": not a regular file");
}

BOOST_AUTO_TEST_CASE(empty_and_whitespace_files_are_unavailable)
{
    temp_dir dir;
    for (std::string_view content : {"", "\n", "  \t\r\n  \n"}) {
        BOOST_TEST_CONTEXT('"' << content << '"')
        {
            const std::string path = dir.file("token");
            test::write_file(path, content);
            expect_file_error(path, error::client_assertion_unavailable, "client assertion file " + path + ": empty");
        }
    }
}

BOOST_AUTO_TEST_CASE(content_that_is_not_a_jwt_is_unavailable_and_never_quoted)
{
    temp_dir dir;
    const std::string path = dir.file("token");
    const std::string not_json = "not a JWT (its header or payload is not base64url-encoded JSON)";
    const std::string good = jwt_expiring(now + 1h);
    const std::pair<std::string, std::string> cases[] = {
        {"hello-canary", "not a JWT (a compact JWS is three base64url parts separated by dots)"},
        {"canary.two", "not a JWT (a compact JWS is three base64url parts separated by dots)"},
        {"canary.a.b.c", "not a JWT (a compact JWS is three base64url parts separated by dots)"},
        {good + "\n" + good, "not a JWT (a compact JWS is three base64url parts separated by dots)"},
        {"{\"canary\": 1}", "not a JWT (a compact JWS is three base64url parts separated by dots)"},
        {"Y2FuYXJ5.Y2FuYXJ5.Y2FuYXJ5", not_json},
        {good.substr(0, good.rfind('.') + 1), "not a signed JWT (the signature part is empty)"},
        {base64url_encode(R"({"typ":"JWT"})") + ".e30.c2ln", not_json}, // a header without alg
        {base64url_encode(R"({"alg":"ES256"})") + ".WzFd.c2ln", not_json},  // a payload that is an array
    };
    for (auto& [content, reason] : cases) {
        BOOST_TEST_CONTEXT(content)
        {
            test::write_file(path, content);
            diagnostics d;
            auto r = read_file_assertion(path, now, d);
            BOOST_TEST_REQUIRE(!r.has_value());
            BOOST_TEST(r.error() == make_error_code(error::client_assertion_unavailable));
            BOOST_TEST(d.client_message() == "client assertion file " + path + ": " + reason);
            BOOST_TEST(std::string(d.client_message()).find("canary") == std::string::npos);
            BOOST_TEST(std::string(d.client_message()).find("Y2FuYXJ5") == std::string::npos);
        }
    }
}

BOOST_AUTO_TEST_CASE(expired_assertions_are_never_returned)
{
    const test::temp_file file(jwt_expiring(now - 42s));
    const std::string& path = file.path;
    expect_file_error(path, error::client_assertion_expired, "client assertion file " + path + ": expired 42 s ago");
    test::write_file(path, jwt_expiring(now));
    expect_file_error(path, error::client_assertion_expired, "client assertion file " + path + ": expired 0 s ago");
    // Within the 5 s margin: it could expire on its way.
    test::write_file(path, jwt_expiring(now + 3s));
    expect_file_error(path, error::client_assertion_expired,
                      "client assertion file " + path + ": expires in 3 s, too close to send (margin 5 s)");
    test::write_file(path, jwt_expiring(now + 6s));
    diagnostics d;
    BOOST_TEST(read_file_assertion(path, now, d).has_value());
}

BOOST_AUTO_TEST_CASE(valid_file_is_returned_trimmed)
{
    temp_dir dir;
    const std::string path = dir.file("token");
    const std::string jwt = jwt_expiring(now + 1h);
    for (std::string content : {jwt, jwt + "\n", jwt + "\r\n", "\n  " + jwt + " \n\n"}) {
        test::write_file(path, content);
        diagnostics d;
        auto r = read_file_assertion(path, now, d);
        BOOST_TEST_REQUIRE(r.has_value(), d);
        BOOST_TEST(*r == jwt);
    }
    // Without exp: accepted, the server decides.
    const std::string no_exp = unsigned_jwt({{"iss", "https://platform.example"}, {"sub", "app"}});
    test::write_file(path, no_exp);
    diagnostics d;
    BOOST_TEST(read_file_assertion(path, now, d).value() == no_exp);
}

BOOST_AUTO_TEST_CASE(rewritten_file_is_read_again)
{
    temp_dir dir;
    const std::string path = dir.file("token");
    diagnostics d;
    test::write_file(path, jwt_expiring(now + 1h, "aaaa"));
    BOOST_TEST(read_file_assertion(path, now, d).value() == jwt_expiring(now + 1h, "aaaa"));
    // In place, another size.
    test::write_file(path, jwt_expiring(now + 2h, "bbbbbbbb"));
    BOOST_TEST(read_file_assertion(path, now, d).value() == jwt_expiring(now + 2h, "bbbbbbbb"));
}

BOOST_AUTO_TEST_CASE(rename_over_with_same_size_and_mtime_is_read_again)
{
    temp_dir dir;
    const std::string path = dir.file("token");
    diagnostics d;
    const std::string first = jwt_expiring(now + 1h, "aaaa"), second = jwt_expiring(now + 1h, "bbbb");
    BOOST_TEST_REQUIRE(first.size() == second.size());
    test::write_file(path, first);
    BOOST_TEST(read_file_assertion(path, now, d).value() == first);
    const ino_t old_inode = test::inode_of(path);
    const timespec old_mtime = test::mtime_of(path);
    test::replace_file(path, second, true); // the projected-volume way: new inode, nothing else differs
    BOOST_TEST_REQUIRE(test::inode_of(path) != old_inode);
    BOOST_TEST_REQUIRE(test::mtime_of(path).tv_sec == old_mtime.tv_sec);
    BOOST_TEST_REQUIRE(test::mtime_of(path).tv_nsec == old_mtime.tv_nsec);
    BOOST_TEST(read_file_assertion(path, now, d).value() == second);
}

BOOST_AUTO_TEST_CASE(unchanged_file_is_answered_from_memory)
{
    // The file's content changes behind the reader's back while its identity
    // stays: the remembered copy answers, so the file was not read. Once the
    // identity changes (touch), the new content is read, and rejected.
    const std::string jwt = jwt_expiring(now + 1h);
    const test::temp_file file(jwt);
    const std::string& path = file.path;
    diagnostics d;
    BOOST_TEST(read_file_assertion(path, now, d).value() == jwt);
    rewrite_unnoticeably(path, std::string(jwt.size(), 'x'));
    for (int i = 0; i < 3; ++i)
        BOOST_TEST(read_file_assertion(path, now, d).value() == jwt);
    timespec later = test::mtime_of(path);
    later.tv_sec += 1;
    test::set_mtime(path, later); // touch
    expect_file_error(path, error::client_assertion_unavailable,
                      "client assertion file " + path +
                          ": not a JWT (a compact JWS is three base64url parts separated by dots)");
}

BOOST_AUTO_TEST_CASE(copy_expiring_within_a_minute_is_read_again)
{
    temp_dir dir;
    const std::string path = dir.file("token");
    const sys_time exp = now + 1h;
    const std::string first = jwt_expiring(exp, "aaaa"), second = jwt_expiring(exp, "bbbb");
    test::write_file(path, first);
    diagnostics d;
    BOOST_TEST(read_file_assertion(path, exp - 10min, d).value() == first);
    rewrite_unnoticeably(path, second);
    BOOST_TEST(read_file_assertion(path, exp - 10min, d).value() == first); // far from exp: remembered
    BOOST_TEST(read_file_assertion(path, exp - 61s, d).value() == first);
    BOOST_TEST(read_file_assertion(path, exp - 59s, d).value() == second); // within 60 s: read again
    // The platform did not rotate in time: never sent expired.
    expect_file_error(path, error::client_assertion_expired, "client assertion file " + path + ": expired 7 s ago",
                      exp + 7s);
}

BOOST_AUTO_TEST_CASE(callback_value_empty_and_expired)
{
    diagnostics d;
    const std::string jwt = jwt_expiring(now + 1h);
    BOOST_TEST(read_callback_assertion([&] { return jwt + "\n"; }, d).value() == jwt);

    auto empty = read_callback_assertion([] { return std::string(); }, d);
    BOOST_TEST(empty.error() == make_error_code(error::client_assertion_unavailable));
    BOOST_TEST(d.client_message() == "client assertion callback: empty");

    auto expired = read_callback_assertion([&] { return jwt_expiring(now - 5s); }, d);
    BOOST_TEST(expired.error() == make_error_code(error::client_assertion_expired));
    BOOST_TEST(d.client_message() == "client assertion callback: expired 5 s ago");

    auto garbage = read_callback_assertion([] { return std::string("opaque-canary"); }, d);
    BOOST_TEST(garbage.error() == make_error_code(error::client_assertion_unavailable));
    BOOST_TEST(std::string(d.client_message()).find("canary") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(callback_exceptions_are_unavailable_without_echoing_a_token)
{
    diagnostics d;
    auto plain = read_callback_assertion([]() -> std::string { throw std::runtime_error("vault sealed"); }, d);
    BOOST_TEST(plain.error() == make_error_code(error::client_assertion_unavailable));
    BOOST_TEST(d.client_message() == "client assertion callback: threw: vault sealed");

    const std::string jwt = jwt_expiring(now + 1h);
    auto echo = read_callback_assertion([&]() -> std::string { throw std::runtime_error("bad token " + jwt + "\nend"); }, d);
    BOOST_TEST(echo.error() == make_error_code(error::client_assertion_unavailable));
    BOOST_TEST(d.client_message() == "client assertion callback: threw: bad token <redacted> end");

    const std::string long_text(5000, 'a');
    auto long_what = read_callback_assertion([&]() -> std::string { throw std::runtime_error(std::string(300, ' ') + long_text); }, d);
    BOOST_TEST(long_what.error() == make_error_code(error::client_assertion_unavailable));
    BOOST_TEST(d.client_message().size() <= std::string_view("client assertion callback: threw: ").size() + 200);

    auto other = read_callback_assertion([]() -> std::string { throw 42; }, d);
    BOOST_TEST(other.error() == make_error_code(error::client_assertion_unavailable));
    BOOST_TEST(d.client_message() == "client assertion callback: threw an exception that is not a std::exception");
}

BOOST_AUTO_TEST_CASE(many_files_stay_correct_beyond_the_memo_bound)
{
    temp_dir dir;
    diagnostics d;
    for (int round = 0; round < 2; ++round)
        for (int i = 0; i < 100; ++i) {
            const std::string path = dir.file("token-" + std::to_string(i));
            const std::string jwt = jwt_expiring(now + std::chrono::hours(1 + i));
            if (round == 0)
                test::write_file(path, jwt);
            BOOST_TEST(read_file_assertion(path, now, d).value() == jwt);
        }
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

auth_config jwt_bearer_config()
{
    auth_config c;
    c.grant = grant_type::jwt_bearer;
    c.client_id = "cid";
    c.client_secret = "csecret";
    c.token_endpoint = "https://auth.example.com/oauth2/token";
    c.scope = {"read", "write"};
    c.resource = "https://api.example.com";
    c.audience = "urn:orders";
    return c;
}

/// The inputs of a jwt_bearer request at `now`.
grant_inputs jwt_bearer_inputs()
{
    grant_inputs in;
    in.grant = grant_type::jwt_bearer;
    in.now = now;
    return in;
}

/// A client that authenticates with private_key_jwt and has neither key nor assertion yet.
auth_config private_key_jwt_config()
{
    auth_config c;
    c.client_id = "workload-client";
    c.token_endpoint = "https://auth.example.com/oauth2/token";
    c.auth_method = client_auth_method::private_key_jwt;
    return c;
}

std::map<std::string, std::string> form_of(const token_request& req)
{
    std::map<std::string, std::string> out;
    for (auto& [k, v] : test::form_params(req.body)) {
        BOOST_TEST(out.count(k) == 0u, "repeated form field " << k);
        out[k] = v;
    }
    return out;
}

const http_field* field(const token_request& req, std::string_view name)
{
    for (auto& f : req.fields)
        if (f.name == name)
            return &f;
    return nullptr;
}

/// An RSA key (RS256 signatures verify with EVP_DigestVerify as they are).
struct rsa_key {
    rsa_key()
    {
        pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048});
        BIO* bio = BIO_new(BIO_s_mem());
        PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
        char* data = nullptr;
        long len = BIO_get_mem_data(bio, &data);
        diagnostics d;
        key = signing_key::load_pem(std::string_view(data, static_cast<std::size_t>(len)), "kid-7", d).value();
        BIO_free(bio);
    }
    ~rsa_key() { EVP_PKEY_free(pkey); }
    rsa_key(const rsa_key&) = delete;
    rsa_key& operator=(const rsa_key&) = delete;

    bool verifies(std::string_view jws) const
    {
        const auto dot = jws.rfind('.');
        const std::string sig = b64url_decode(jws.substr(dot + 1));
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        const bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
                        EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                                         reinterpret_cast<const unsigned char*>(jws.data()), dot) == 1;
        EVP_MD_CTX_free(ctx);
        return ok;
    }

    static std::string b64url_decode(std::string_view in)
    {
        std::string s(in);
        for (auto& c : s)
            c = c == '-' ? '+' : c == '_' ? '/' : c;
        const std::size_t pad = (4 - s.size() % 4) % 4;
        s.append(pad, '=');
        std::string out(s.size() / 4 * 3, '\0');
        const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
        out.resize(static_cast<std::size_t>(n) - pad);
        return out;
    }

    EVP_PKEY* pkey = nullptr;
    std::shared_ptr<const signing_key> key;
};

boost::json::object header_of(std::string_view jws)
{
    return boost::json::parse(rsa_key::b64url_decode(jws.substr(0, jws.find('.')))).as_object();
}

} // namespace

BOOST_AUTO_TEST_SUITE(jwt_bearer_unit)

BOOST_AUTO_TEST_CASE(grant_from_an_assertion_file_has_exactly_these_fields)
{
    const std::string jwt = jwt_expiring(now + 1h);
    const test::temp_file file(jwt + "\n", "assertion");
    const std::string& path = file.path;
    auto cfg = jwt_bearer_config();
    cfg.jwt_bearer_assertion.file = path;
    auto in = jwt_bearer_inputs();
    diagnostics d;
    auto req = build_token_request(cfg, in, d);
    BOOST_TEST_REQUIRE(req.has_value(), d);
    const std::map<std::string, std::string> expected = {
        {"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"},
        {"assertion", jwt},
        {"scope", "read write"},
        {"resource", "https://api.example.com"},
        {"audience", "urn:orders"},
    };
    BOOST_TEST((form_of(*req) == expected));
    BOOST_TEST_REQUIRE(field(*req, "Authorization") != nullptr); // client_secret_basic, as configured
    BOOST_TEST(field(*req, "Authorization")->value == basic_authorization("cid", "csecret"));
}

BOOST_AUTO_TEST_CASE(grant_signed_with_the_client_key)
{
    rsa_key k;
    for (std::string subject : {"", "alice"}) {
        BOOST_TEST_CONTEXT("subject \"" << subject << '"')
        {
            auto cfg = jwt_bearer_config();
            cfg.client_key = k.key;
            cfg.jwt_bearer_subject = subject;
            cfg.client_assertion_lifetime = 90s;
            auto in = jwt_bearer_inputs();
            diagnostics d;
            auto req = build_token_request(cfg, in, d);
            BOOST_TEST_REQUIRE(req.has_value(), d);
            auto form = form_of(*req);
            const std::string jws = form["assertion"];
            BOOST_TEST(k.verifies(jws));
            BOOST_TEST(header_of(jws).at("alg").as_string() == "RS256");
            BOOST_TEST(header_of(jws).at("kid").as_string() == "kid-7");
            auto claims = decode_jwt_payload(jws).value();
            BOOST_TEST(claims.at("iss").as_string() == "cid");
            BOOST_TEST(claims.at("sub").as_string() == (subject.empty() ? "cid" : subject));
            BOOST_TEST(claims.at("aud").as_string() == cfg.token_endpoint);
            BOOST_TEST(claims.at("iat").as_int64() == test::numeric_date(now));
            BOOST_TEST(claims.at("exp").as_int64() == test::numeric_date(now + 90s));
            BOOST_TEST(!claims.at("jti").as_string().empty());
            BOOST_TEST(form.count("client_assertion") == 0u); // basic authentication
        }
    }
}

BOOST_AUTO_TEST_CASE(grant_without_an_assertion_source_names_the_settings)
{
    auto cfg = jwt_bearer_config();
    auto in = jwt_bearer_inputs();
    diagnostics d;
    auto req = build_token_request(cfg, in, d);
    BOOST_TEST_REQUIRE(!req.has_value());
    BOOST_TEST(req.error() == make_error_code(error::client_assertion_unavailable));
    BOOST_TEST(d.client_message() ==
               "grant jwt_bearer: set auth_config.jwt_bearer_assertion (TetraPak:JwtBearerAssertionFile) or "
               "auth_config.client_key to sign one");
}

BOOST_AUTO_TEST_CASE(expired_or_missing_assertion_file_fails_before_anything_is_built)
{
    temp_dir dir;
    auto cfg = jwt_bearer_config();
    cfg.jwt_bearer_assertion.file = dir.file("assertion");
    auto in = jwt_bearer_inputs();
    diagnostics d;
    BOOST_TEST(build_token_request(cfg, in, d).error() == make_error_code(error::client_assertion_unavailable));
    BOOST_TEST(d.client_message() == "jwt_bearer assertion file " + cfg.jwt_bearer_assertion.file + ": not found (ENOENT)");
    test::write_file(cfg.jwt_bearer_assertion.file, jwt_expiring(now - 1s));
    BOOST_TEST(build_token_request(cfg, in, d).error() == make_error_code(error::client_assertion_expired));
}

BOOST_AUTO_TEST_CASE(refresh_token_renews_without_the_assertion)
{
    auto cfg = jwt_bearer_config();
    cfg.jwt_bearer_assertion.file = "/nonexistent/assertion"; // never read for a renewal
    auto in = jwt_bearer_inputs();
    in.refresh_token = "rt-1";
    diagnostics d;
    auto req = build_token_request(cfg, in, d);
    BOOST_TEST_REQUIRE(req.has_value(), d);
    auto form = form_of(*req);
    BOOST_TEST(form["grant_type"] == "refresh_token");
    BOOST_TEST(form["refresh_token"] == "rt-1");
    BOOST_TEST(form.count("assertion") == 0u);
}

BOOST_AUTO_TEST_CASE(control_characters_are_refused_on_every_path)
{
    auto cfg = jwt_bearer_config();
    cfg.client_key = rsa_key().key;
    cfg.jwt_bearer_subject = "alice\r\nX-Injected: 1";
    auto in = jwt_bearer_inputs();
    diagnostics d;
    BOOST_TEST(build_token_request(cfg, in, d).error() == make_error_code(error::invalid_header_value));
    BOOST_TEST(d.client_message() == "auth_config.jwt_bearer_subject");
    cfg.jwt_bearer_subject.clear();
    cfg.resource = std::string("x\0y", 3);
    BOOST_TEST(build_token_request(cfg, in, d).error() == make_error_code(error::invalid_header_value));
    // A callback's assertion with a line break is not a JWT: never sent.
    cfg.resource.clear();
    cfg.client_key.reset();
    const std::string jwt = jwt_expiring(now + 1h);
    cfg.jwt_bearer_assertion.callback = [&] { return jwt.substr(0, 10) + "\r\n" + jwt.substr(10); };
    BOOST_TEST(build_token_request(cfg, in, d).error() == make_error_code(error::client_assertion_unavailable));
}

BOOST_AUTO_TEST_CASE(private_key_jwt_from_a_platform_file)
{
    const std::string jwt = jwt_expiring(now + 1h);
    const test::temp_file file(jwt);
    const std::string& path = file.path;
    auto cfg = private_key_jwt_config();
    cfg.client_assertion.file = path;
    grant_inputs in;
    in.now = now;
    diagnostics d;
    auto req = build_token_request(cfg, in, d);
    BOOST_TEST_REQUIRE(req.has_value(), d);
    const std::map<std::string, std::string> expected = {
        {"grant_type", "client_credentials"},
        {"client_id", "workload-client"},
        {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
        {"client_assertion", jwt},
    };
    BOOST_TEST((form_of(*req) == expected));
    BOOST_TEST(field(*req, "Authorization") == nullptr);

    // A configured key wins over the file.
    rsa_key k;
    cfg.client_key = k.key;
    auto signed_here = build_token_request(cfg, in, d);
    BOOST_TEST_REQUIRE(signed_here.has_value(), d);
    BOOST_TEST(k.verifies(form_of(*signed_here)["client_assertion"]));
}

BOOST_AUTO_TEST_CASE(private_key_jwt_without_key_or_file_says_what_to_set)
{
    auto cfg = private_key_jwt_config();
    diagnostics d;
    auto req = build_token_request(cfg, {}, d);
    BOOST_TEST(req.error() == make_error_code(error::key_load_failed));
    BOOST_TEST(d.client_message() ==
               "private_key_jwt: set auth_config.client_key, or auth_config.client_assertion.file "
               "(TetraPak:ClientAssertionFile) for a platform-issued assertion");
}

BOOST_AUTO_TEST_CASE(self_signed_tls_client_auth_sends_the_client_id)
{
    auto cfg = private_key_jwt_config();
    cfg.auth_method = client_auth_method::self_signed_tls_client_auth;
    diagnostics d;
    auto req = build_token_request(cfg, {}, d);
    BOOST_TEST_REQUIRE(req.has_value(), d);
    const std::map<std::string, std::string> expected = {{"grant_type", "client_credentials"},
                                                         {"client_id", "workload-client"}};
    BOOST_TEST((form_of(*req) == expected));
    BOOST_TEST(field(*req, "Authorization") == nullptr);
}

BOOST_AUTO_TEST_CASE(grant_choice_and_method_choice)
{
    diagnostics d;
    BOOST_TEST((resolve_grant(grant_type::jwt_bearer, actor_token(), d).value() == grant_type::jwt_bearer));
    BOOST_TEST((resolve_grant(grant_type::jwt_bearer, actor_token("caller"), d).value() == grant_type::jwt_bearer));

    auth_config cfg;
    BOOST_TEST(!choose_auth_method({}, cfg).has_value());
    cfg.client_assertion.file = "/var/run/secrets/token";
    BOOST_TEST((choose_auth_method({}, cfg) == client_auth_method::private_key_jwt));
    cfg.client_assertion = {};
    cfg.client_assertion.callback = [] { return std::string(); };
    BOOST_TEST((choose_auth_method({"private_key_jwt", "client_secret_basic"}, cfg) ==
                client_auth_method::private_key_jwt));

    auth_config mtls;
    mtls.tls.client_certificate_file = "client.pem";
    BOOST_TEST((choose_auth_method({}, mtls) == client_auth_method::tls_client_auth));
    BOOST_TEST((choose_auth_method({"self_signed_tls_client_auth", "client_secret_basic"}, mtls) ==
                client_auth_method::self_signed_tls_client_auth));
    BOOST_TEST((choose_auth_method({"tls_client_auth", "self_signed_tls_client_auth"}, mtls) ==
                client_auth_method::tls_client_auth));
}

BOOST_AUTO_TEST_SUITE_END()
