// tetrapak-token: fetches an OAuth 2.0 access token with tetrapak-asio and
// prints it. See `tetrapak-token --help`.
#include <tetrapak.hpp>
#include <tetrapak/dpop.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/object.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

namespace asio = boost::asio;
using namespace tetrapak;

// Exit codes.
constexpr int exit_ok = 0;
constexpr int exit_refused = 1; // the authorization server answered with an error
constexpr int exit_usage = 2;   // bad flags or configuration
constexpr int exit_network = 3; // no answer: unreachable, TLS, timeouts

constexpr const char* help_text = R"(usage: tetrapak-token [options]

Fetches an OAuth 2.0 access token (client credentials, RFC 8693 token
exchange with --subject-token, or an RFC 7523 JWT bearer grant) and prints it
on stdout.

Where the configuration comes from (flags override the file):
  --config FILE            a TetraPak appsettings JSON file (the SDK's format)
  --service NAME           the service (and --endpoint NAME) to resolve in it
  --endpoint NAME
  --issuer URL             discover the token endpoint from URL/.well-known/openid-configuration
  --token-url URL          the token endpoint (skips discovery)
  --client-id ID
  --client-secret-file F   read the client secret from F (else TETRAPAK_CLIENT_SECRET)
  --scope SCOPE            a scope to request (repeatable, or space-separated)
  --audience AUD           RFC 8693 audience
  --resource URI           RFC 8707 resource indicator
  --subject-token TOKEN    exchange this token (RFC 8693); @FILE reads it from FILE
  --grant GRANT            client_credentials | token_exchange | automatic | jwt_bearer
  --assertion-file FILE    jwt_bearer: the grant's JWT, e.g. a platform-issued token
                           (implies --grant jwt_bearer; without it, --key signs one)
  --subject SUB            jwt_bearer with --key: the assertion's "sub" (default: the client id)
  --auth-method METHOD     client_secret_basic (default) | client_secret_post |
                           client_secret_jwt | private_key_jwt | tls_client_auth |
                           self_signed_tls_client_auth
  --key FILE               PEM private key for private_key_jwt (and jwt_bearer assertions)
  --key-id KID             the key's id, sent as the assertion's "kid" (some servers pick the key by it)
  --client-assertion-file FILE
                           private_key_jwt with the client assertion a platform writes to
                           FILE (workload identity; re-read when it changes; implies
                           --auth-method private_key_jwt)
  --basic-credentials FORM rfc6749 | raw | auto (default): how client_secret_basic encodes id and
                           secret; auto tries raw once when the server refuses the RFC form
  --cert FILE, --cert-key FILE
                           client certificate and key for tls_client_auth
  --dpop                   a DPoP-bound token (RFC 9449), proofs signed with a key made now
  --dpop-key FILE          the DPoP proof key (PEM; implies --dpop)
  --dpop-alg ALG           ES256 (default) | RS256 | PS256 | EdDSA: the proof key's algorithm
                           (implies --dpop)
  --cacert FILE            trust the CAs in FILE (default: the system's)
  --timeout SECONDS        bound of each step (connect, handshake, ...; default 5/10)
  --proxy URL              HTTP proxy, http://[user:password@]host:port, or "none"
                           (default: https_proxy / all_proxy from the environment)
  --noproxy LIST           hosts reached directly (NO_PROXY syntax; default: no_proxy)
  --redis URL              share tokens through this Redis (redis://[user:password@]host:port[/db]
                           or rediss://): a run reuses the token an earlier run or another
                           instance stored, until it is due for renewal (README "Fleets")
  --redis-key-file FILE    the envelope keys for --redis (id:base64[,id:base64...])

Output:
  --json                   print the token response as JSON instead of the bare token
                           (token_type says "DPoP" for a DPoP-bound token)
  --verbose                print each step with its duration on stderr (no secrets, no tokens)
  --help                   this text

Exit status: 0 token printed; 1 the authorization server refused (its error
and error_description are printed); 2 bad flags or configuration, including a
missing, unreadable, malformed or expired assertion file (the file is named);
3 no answer (unreachable, TLS failure, timeout).
)";

struct usage_error {
    std::string what;
};

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw usage_error{"cannot read " + path};
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
        s.pop_back();
    return s;
}

std::vector<std::string> split_spaces(const std::string& s)
{
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string w; in >> w;)
        out.push_back(w);
    return out;
}

int classify(const boost::system::error_code& ec)
{
    if (ec.category() == oauth_category())
        return exit_refused;
    if (ec.category() == client_category()) {
        switch (static_cast<error>(ec.value())) {
        case error::too_many_requests:
        case error::server_unavailable:
        case error::unexpected_http_status:
        case error::redirect_not_followed:
        case error::malformed_response:
        case error::missing_access_token:
        case error::invalid_expires_in:
        case error::unsupported_token_type:
        case error::dpop_key_mismatch:
        case error::client_refused: return exit_refused;
        case error::connect_timeout:
        case error::handshake_timeout:
        case error::request_timeout:
        case error::response_header_timeout:
        case error::response_body_timeout:
        case error::tls_verification_failed:
        case error::tls_version_refused:
        case error::not_tls:
        case error::response_too_large:
        case error::header_too_large:
        case error::discovery_failed:
        case error::proxy_unreachable:
        case error::proxy_timeout:
        case error::proxy_refused:
        case error::proxy_auth_required:
        case error::proxy_bad_response:
        case error::connection_wait_timeout:
        case error::too_many_open_files: return exit_network;
        // client_assertion_unavailable, client_assertion_expired and the
        // other configuration errors: nothing was sent
        default: return exit_usage;
        }
    }
    return exit_network;
}

/// The command line, as given.
struct flags {
    std::string config_file, service, endpoint, issuer, token_url, client_id, secret_file, audience, resource;
    std::string subject, grant, method, key_file, key_id, cert, cert_key, cacert, proxy, no_proxy, basic_form;
    std::string dpop_key_file, dpop_alg, client_assertion_file, assertion_file, jwt_subject;
    std::string redis, redis_key_file;
    std::vector<std::string> scopes;
    bool json = false, verbose = false, dpop = false, help = false;
    int timeout_s = 0;
};

flags parse_flags(int argc, char** argv)
{
    static const std::pair<std::string_view, std::string flags::*> string_flags[] = {
        {"--config", &flags::config_file},     {"--service", &flags::service},
        {"--endpoint", &flags::endpoint},      {"--issuer", &flags::issuer},
        {"--token-url", &flags::token_url},    {"--client-id", &flags::client_id},
        {"--client-secret-file", &flags::secret_file}, {"--audience", &flags::audience},
        {"--resource", &flags::resource},      {"--subject-token", &flags::subject},
        {"--grant", &flags::grant},            {"--auth-method", &flags::method},
        {"--key", &flags::key_file},           {"--key-id", &flags::key_id},
        {"--basic-credentials", &flags::basic_form}, {"--proxy", &flags::proxy},
        {"--noproxy", &flags::no_proxy},       {"--cert", &flags::cert},
        {"--cert-key", &flags::cert_key},      {"--cacert", &flags::cacert},
        {"--dpop-key", &flags::dpop_key_file}, {"--dpop-alg", &flags::dpop_alg},
        {"--client-assertion-file", &flags::client_assertion_file},
        {"--assertion-file", &flags::assertion_file}, {"--subject", &flags::jwt_subject},
        {"--redis", &flags::redis},            {"--redis-key-file", &flags::redis_key_file},
    };
    std::vector<std::string> args(argv + 1, argv + argc);
    auto value = [&](std::size_t& i) -> const std::string& {
        if (i + 1 >= args.size())
            throw usage_error{args[i] + " needs a value"};
        return args[++i];
    };
    flags f;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto named = std::find_if(std::begin(string_flags), std::end(string_flags),
                                  [&](const auto& sf) { return sf.first == a; });
        if (named != std::end(string_flags)) {
            f.*(named->second) = value(i);
        } else if (a == "--help" || a == "-h") {
            f.help = true;
        } else if (a == "--scope") {
            for (auto& s : split_spaces(value(i)))
                f.scopes.push_back(s);
        } else if (a == "--timeout") {
            const auto& v = value(i);
            char* end = nullptr;
            long n = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end || n < 1 || n > 3600)
                throw usage_error{"--timeout wants whole seconds (1..3600), not \"" + v + "\""};
            f.timeout_s = static_cast<int>(n);
        } else if (a == "--json") {
            f.json = true;
        } else if (a == "--verbose" || a == "-v") {
            f.verbose = true;
        } else if (a == "--dpop") {
            f.dpop = true;
        } else {
            throw usage_error{"unknown option " + a + " (see --help)"};
        }
    }
    return f;
}

/// The --config file resolved for --service/--endpoint (empty without --config).
auth_config config_from_file(const flags& f)
{
    auth_config cfg;
    if (f.config_file.empty())
        return cfg;
    diagnostics diag;
    auto s = load_settings_file(f.config_file, diag);
    if (s)
        if (auto env = apply_environment_variables(*s, environ, diag); !env)
            s = env.error();
    if (!s)
        throw usage_error{f.config_file + ": " + s.error().message() + " (" + std::string(diag.client_message()) + ")"};
    auto r = s->resolve(f.service, f.endpoint, [](const char* n) { return std::getenv(n); }, diag);
    // Flags may still supply what the file lacks (id, secret).
    const bool lacks_credentials = !r && (r.error() == error::missing_client_id || r.error() == error::missing_client_secret);
    if (!r && !lacks_credentials)
        throw usage_error{f.config_file + ": " + r.error().message() + " (" + std::string(diag.client_message()) + ")"};
    if (r)
        cfg = std::move(*r);
    return cfg;
}

/// Where to ask, as whom, for what, and how to connect.
void apply_endpoint_flags(auth_config& cfg, flags f)
{
    if (!f.issuer.empty()) {
        while (!f.issuer.empty() && f.issuer.back() == '/')
            f.issuer.pop_back();
        cfg.discovery_document_url = f.issuer + "/.well-known/openid-configuration";
        cfg.token_endpoint.clear();
    }
    if (!f.token_url.empty())
        cfg.token_endpoint = f.token_url;
    if (!f.client_id.empty())
        cfg.client_id = f.client_id;
    if (!f.secret_file.empty())
        cfg.client_secret = read_file(f.secret_file);
    else if (const char* s = std::getenv("TETRAPAK_CLIENT_SECRET"); s && cfg.client_secret.empty())
        cfg.client_secret = s;
    if (!f.scopes.empty())
        cfg.scope = f.scopes;
    if (!f.audience.empty())
        cfg.audience = f.audience;
    if (!f.resource.empty())
        cfg.resource = f.resource;
    if (!f.cacert.empty())
        cfg.tls.ca_file = f.cacert;
    if (!f.cert.empty()) {
        cfg.tls.client_certificate_file = f.cert;
        cfg.tls.client_key_file = f.cert_key;
    }
    if (!f.proxy.empty())
        cfg.proxy.url = f.proxy;
    if (!f.no_proxy.empty())
        cfg.proxy.no_proxy = f.no_proxy;
    if (f.timeout_s) {
        const std::chrono::milliseconds t = std::chrono::seconds(f.timeout_s);
        cfg.timeouts = {t, t, t, t, t, t};
    }
    if (!f.redis.empty())
        cfg.fleet.redis_url = f.redis;
    if (!f.redis_key_file.empty())
        cfg.fleet.key_file = f.redis_key_file;
    if (!f.redis_key_file.empty() && !cfg.fleet.enabled())
        throw usage_error{"--redis-key-file is for --redis (or Fleet:RedisUrl in --config)"};
}

/// A key flag's failure: the loader's own reason when it gave one (the
/// generic key_load_failed text speaks of private_key_jwt).
usage_error key_problem(const std::string& what, const boost::system::error_code& ec, const diagnostics& diag)
{
    return usage_error{what + ": " + (diag.client_message().empty() ? ec.message() : std::string(diag.client_message()))};
}

/// How the client proves who it is: method, keys, assertion files.
void apply_authentication_flags(auth_config& cfg, const flags& f)
{
    if (!f.basic_form.empty()) {
        auto form = parse_basic_credentials_encoding(f.basic_form);
        if (!form)
            throw usage_error{"unknown --basic-credentials " + f.basic_form + " (rfc6749, raw or auto)"};
        cfg.basic_credentials = *form;
    }
    if (!f.method.empty()) {
        const std::array methods = {client_auth_method::client_secret_basic, client_auth_method::client_secret_post,
                                    client_auth_method::client_secret_jwt,   client_auth_method::private_key_jwt,
                                    client_auth_method::tls_client_auth,     client_auth_method::self_signed_tls_client_auth};
        auto m = std::find_if(methods.begin(), methods.end(), [&](auto m) { return to_string(m) == f.method; });
        if (m == methods.end())
            throw usage_error{"unknown --auth-method " + f.method + " (see --help)"};
        cfg.auth_method = *m;
    }
    if (!f.key_file.empty() && !f.client_assertion_file.empty())
        throw usage_error{"--key and --client-assertion-file both authenticate the client: give one"};
    if (!f.key_file.empty()) {
        diagnostics diag;
        auto key = signing_key::load_pem_file(f.key_file, f.key_id, diag);
        if (!key)
            throw key_problem("--key " + f.key_file, key.error(), diag);
        cfg.client_key = *key;
    }
    if (!f.client_assertion_file.empty()) {
        cfg.client_assertion.file = f.client_assertion_file;
        if (f.method.empty())
            cfg.auth_method = client_auth_method::private_key_jwt;
    }
}

/// --dpop, --dpop-key, --dpop-alg: without a key file an ES256 key is the
/// service's own; another algorithm's key is made here.
void apply_dpop_flags(auth_config& cfg, const flags& f)
{
    if (!f.dpop && f.dpop_key_file.empty() && f.dpop_alg.empty())
        return;
    cfg.dpop.enabled = true;
    diagnostics diag;
    boost::system::result<std::shared_ptr<const dpop_key>> key = std::shared_ptr<const dpop_key>();
    std::string what;
    if (!f.dpop_key_file.empty()) {
        key = dpop_key::load_pem_file(f.dpop_key_file, f.dpop_alg, diag);
        what = "--dpop-key " + f.dpop_key_file;
    } else if (!f.dpop_alg.empty() && f.dpop_alg != "ES256") {
        key = dpop_key::generate(f.dpop_alg, diag);
        what = "--dpop-alg " + f.dpop_alg;
    }
    if (!key)
        throw key_problem(what, key.error(), diag);
    cfg.dpop.key = std::move(*key);
}

/// The grant and what it needs: a subject token, or a jwt_bearer assertion.
void apply_grant_flags(auth_config& cfg, http_client_options& options, const flags& f)
{
    std::string grant = f.grant;
    if (grant.empty() && !f.assertion_file.empty())
        grant = "jwt_bearer";
    if (!f.subject.empty()) {
        options.actor_token = actor_token(f.subject.front() == '@' ? read_file(f.subject.substr(1)) : f.subject);
        if (grant.empty())
            cfg.grant = grant_type::token_exchange;
    }
    if (!grant.empty()) {
        if (grant == "client_credentials") cfg.grant = grant_type::client_credentials;
        else if (grant == "token_exchange") cfg.grant = grant_type::token_exchange;
        else if (grant == "automatic") cfg.grant = grant_type::automatic;
        else if (grant == "jwt_bearer") cfg.grant = grant_type::jwt_bearer;
        else throw usage_error{"unknown --grant " + grant + " (see --help)"};
    } else if (f.subject.empty() && cfg.grant == grant_type::token_exchange) {
        throw usage_error{"the configured grant is token exchange: give --subject-token"};
    }
    if (!f.assertion_file.empty())
        cfg.jwt_bearer_assertion.file = f.assertion_file;
    if (!f.jwt_subject.empty())
        cfg.jwt_bearer_subject = f.jwt_subject;
    if (cfg.grant != grant_type::jwt_bearer && (!f.assertion_file.empty() || !f.jwt_subject.empty()))
        throw usage_error{"--assertion-file and --subject are for --grant jwt_bearer"};
    if (cfg.grant == grant_type::jwt_bearer && cfg.jwt_bearer_assertion.empty() && !cfg.client_key)
        throw usage_error{"--grant jwt_bearer: give --assertion-file FILE, or --key FILE to sign the assertion"};
}

void print_failure(const boost::system::error_code& ec, const diagnostics& diag)
{
    std::cerr << "tetrapak-token: " << ec.message() << '\n';
    if (!diag.error().empty())
        std::cerr << "  error: " << diag.error() << '\n';
    if (!diag.error_description().empty())
        std::cerr << "  error_description: " << diag.error_description() << '\n';
    if (diag.http_status())
        std::cerr << "  http_status: " << diag.http_status() << '\n';
    if (!diag.client_message().empty())
        std::cerr << "  detail: " << diag.client_message() << '\n';
}

void print_token(const actor_token& token, bool json)
{
    if (!json) {
        std::cout << token.value() << '\n';
        if (token.token_type() != "Bearer") // the caller must not send it as a Bearer token
            std::cerr << "tetrapak-token: token_type " << token.token_type() << '\n';
        return;
    }
    boost::json::object o;
    o["access_token"] = token.value();
    o["token_type"] = token.token_type();
    if (auto exp = token.expires_at())
        o["expires_in"] = std::chrono::duration_cast<std::chrono::seconds>(*exp - std::chrono::system_clock::now()).count();
    std::string scope;
    for (auto& s : token.scope()) {
        if (!scope.empty())
            scope += ' ';
        scope += s;
    }
    if (!scope.empty())
        o["scope"] = scope;
    if (!token.issued_token_type().empty())
        o["issued_token_type"] = token.issued_token_type();
    if (auto rt = token.refresh_token())
        o["refresh_token"] = *rt;
    std::cout << boost::json::serialize(o) << '\n';
}

void trace_to_stderr(authorization_service& auth, const auth_config& cfg)
{
    std::cerr << "tetrapak-token: " << cfg << '\n';
    auth.set_trace([](const trace_event& e) {
        if (e.finished)
            std::cerr << "  " << e << '\n';
    });
    auth.set_metrics([](const metrics_event& e) {
        if (e.metric == metric::connection_opened || e.metric == metric::connection_reused ||
            e.metric == metric::tls_resumed || e.metric == metric::retry)
            std::cerr << "  " << e << '\n';
    });
}

int run(int argc, char** argv)
{
    const flags f = parse_flags(argc, argv);
    if (f.help) {
        std::cout << help_text;
        return exit_ok;
    }
    auth_config cfg = config_from_file(f);
    http_client_options options;
    apply_endpoint_flags(cfg, f);
    apply_authentication_flags(cfg, f);
    apply_dpop_flags(cfg, f);
    apply_grant_flags(cfg, options, f);
    if (cfg.token_endpoint.empty() && cfg.discovery_document_url.empty())
        throw usage_error{"no token endpoint: give --token-url, --issuer or --config"};
    if (cfg.client_id.empty())
        throw usage_error{"no client id: give --client-id or --config"};
    // One run has nothing to cache, except through the fleet's shared store.
    cfg.cache.enabled = cfg.fleet.enabled();
    cfg.retry.max_attempts = 1; // a command-line tool reports at once; run it again to retry

    asio::io_context ctx;
    std::unique_ptr<authorization_service> auth;
    try {
        auth = std::make_unique<authorization_service>(ctx.get_executor(), cfg);
    } catch (const error_with_diagnostics& e) {
        throw usage_error{std::string(e.what()) + " (" + std::string(e.get_diagnostics().client_message()) + ")"};
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (f.verbose)
        trace_to_stderr(*auth, cfg);
    boost::system::error_code ec;
    diagnostics diag;
    actor_token token;
    auth->async_authorize(options, diag, [&](boost::system::error_code e, actor_token t) {
        ec = e;
        token = std::move(t);
        // With a shared store the service keeps a subscription open: let it
        // go, so that run() returns once the token has been written there.
        asio::post(ctx, [&] { auth.reset(); });
    });
    ctx.run();
    if (f.verbose)
        std::cerr << "  total " << std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count()
                  << " us\n";
    if (ec) {
        print_failure(ec, diag);
        return classify(ec);
    }
    if (f.verbose)
        std::cerr << "  token: " << token << '\n';
    print_token(token, f.json);
    return exit_ok;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        return run(argc, argv);
    } catch (const usage_error& e) {
        std::cerr << "tetrapak-token: " << e.what << '\n';
        return exit_usage;
    } catch (const std::exception& e) {
        std::cerr << "tetrapak-token: " << e.what() << '\n';
        return exit_usage;
    }
}
