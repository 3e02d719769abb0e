// tetrapak-token: fetches an OAuth 2.0 access token with tetrapak-asio and
// prints it. See `tetrapak-token --help`.
#include <tetrapak.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/object.hpp>

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

Fetches an OAuth 2.0 access token (client credentials, or RFC 8693 token
exchange with --subject-token) and prints it on stdout.

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
  --grant GRANT            client_credentials | token_exchange | automatic
  --auth-method METHOD     client_secret_basic (default) | client_secret_post |
                           client_secret_jwt | private_key_jwt | tls_client_auth
  --key FILE               PEM private key for private_key_jwt
  --key-id KID             the key's id, sent as the assertion's "kid" (some servers pick the key by it)
  --basic-credentials FORM rfc6749 | raw | auto (default): how client_secret_basic encodes id and
                           secret; auto tries raw once when the server refuses the RFC form
  --cert FILE, --cert-key FILE
                           client certificate and key for tls_client_auth
  --cacert FILE            trust the CAs in FILE (default: the system's)
  --timeout SECONDS        bound of each step (connect, handshake, ...; default 5/10)
  --proxy URL              HTTP proxy, http://[user:password@]host:port, or "none"
                           (default: https_proxy / all_proxy from the environment)
  --noproxy LIST           hosts reached directly (NO_PROXY syntax; default: no_proxy)

Output:
  --json                   print the token response as JSON instead of the bare token
  --verbose                print each step with its duration on stderr (no secrets, no tokens)
  --help                   this text

Exit status: 0 token printed; 1 the authorization server refused (its error
and error_description are printed); 2 bad flags or configuration; 3 no answer
(unreachable, TLS failure, timeout).
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
        default: return exit_usage;
        }
    }
    return exit_network;
}

int run(int argc, char** argv)
{
    std::vector<std::string> args(argv + 1, argv + argc);
    auto value = [&](std::size_t& i) -> const std::string& {
        if (i + 1 >= args.size())
            throw usage_error{args[i] + " needs a value"};
        return args[++i];
    };

    std::string config_file, service, endpoint, issuer, token_url, client_id, secret_file, audience, resource;
    std::string subject, grant, method, key_file, key_id, cert, cert_key, cacert, proxy, no_proxy, basic_form;
    std::vector<std::string> scopes;
    bool json = false, verbose = false;
    int timeout_s = 0;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--help" || a == "-h") {
            std::cout << help_text;
            return exit_ok;
        } else if (a == "--config") config_file = value(i);
        else if (a == "--service") service = value(i);
        else if (a == "--endpoint") endpoint = value(i);
        else if (a == "--issuer") issuer = value(i);
        else if (a == "--token-url") token_url = value(i);
        else if (a == "--client-id") client_id = value(i);
        else if (a == "--client-secret-file") secret_file = value(i);
        else if (a == "--scope") for (auto& s : split_spaces(value(i))) scopes.push_back(s);
        else if (a == "--audience") audience = value(i);
        else if (a == "--resource") resource = value(i);
        else if (a == "--subject-token") subject = value(i);
        else if (a == "--grant") grant = value(i);
        else if (a == "--auth-method") method = value(i);
        else if (a == "--key") key_file = value(i);
        else if (a == "--key-id") key_id = value(i);
        else if (a == "--basic-credentials") basic_form = value(i);
        else if (a == "--proxy") proxy = value(i);
        else if (a == "--noproxy") no_proxy = value(i);
        else if (a == "--cert") cert = value(i);
        else if (a == "--cert-key") cert_key = value(i);
        else if (a == "--cacert") cacert = value(i);
        else if (a == "--timeout") {
            const auto& v = value(i);
            char* end = nullptr;
            long n = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end || n < 1 || n > 3600)
                throw usage_error{"--timeout wants whole seconds (1..3600), not \"" + v + "\""};
            timeout_s = static_cast<int>(n);
        } else if (a == "--json") json = true;
        else if (a == "--verbose" || a == "-v") verbose = true;
        else
            throw usage_error{"unknown option " + a + " (see --help)"};
    }

    diagnostics diag;
    auth_config cfg;
    if (!config_file.empty()) {
        auto s = load_settings_file(config_file, diag);
        if (s)
            if (auto env = apply_environment_variables(*s, environ, diag); !env)
                s = env.error();
        if (!s)
            throw usage_error{config_file + ": " + s.error().message() + " (" + std::string(diag.client_message()) + ")"};
        auto r = s->resolve(service, endpoint, [](const char* n) { return std::getenv(n); }, diag);
        // Flags may still supply what the file lacks (id, secret).
        const bool lacks_credentials = !r && (r.error() == error::missing_client_id || r.error() == error::missing_client_secret);
        if (!r && !lacks_credentials)
            throw usage_error{config_file + ": " + r.error().message() + " (" + std::string(diag.client_message()) + ")"};
        if (r)
            cfg = std::move(*r);
        diag.clear();
    }
    if (!issuer.empty()) {
        while (!issuer.empty() && issuer.back() == '/')
            issuer.pop_back();
        cfg.discovery_document_url = issuer + "/.well-known/openid-configuration";
        cfg.token_endpoint.clear();
    }
    if (!token_url.empty())
        cfg.token_endpoint = token_url;
    if (!client_id.empty())
        cfg.client_id = client_id;
    if (!secret_file.empty())
        cfg.client_secret = read_file(secret_file);
    else if (const char* s = std::getenv("TETRAPAK_CLIENT_SECRET"); s && cfg.client_secret.empty())
        cfg.client_secret = s;
    if (!scopes.empty())
        cfg.scope = scopes;
    if (!audience.empty())
        cfg.audience = audience;
    if (!resource.empty())
        cfg.resource = resource;
    if (!cacert.empty())
        cfg.tls.ca_file = cacert;
    if (!cert.empty()) {
        cfg.tls.client_certificate_file = cert;
        cfg.tls.client_key_file = cert_key;
    }
    if (!basic_form.empty()) {
        auto form = parse_basic_credentials_encoding(basic_form);
        if (!form)
            throw usage_error{"unknown --basic-credentials " + basic_form + " (rfc6749, raw or auto)"};
        cfg.basic_credentials = *form;
    }
    if (!proxy.empty())
        cfg.proxy.url = proxy;
    if (!no_proxy.empty())
        cfg.proxy.no_proxy = no_proxy;
    if (timeout_s) {
        const std::chrono::milliseconds t = std::chrono::seconds(timeout_s);
        cfg.timeouts = {t, t, t, t, t, t};
    }
    if (!method.empty()) {
        const std::pair<const char*, client_auth_method> methods[] = {
            {"client_secret_basic", client_auth_method::client_secret_basic},
            {"client_secret_post", client_auth_method::client_secret_post},
            {"client_secret_jwt", client_auth_method::client_secret_jwt},
            {"private_key_jwt", client_auth_method::private_key_jwt},
            {"tls_client_auth", client_auth_method::tls_client_auth}};
        bool found = false;
        for (auto& [name, m] : methods)
            if (method == name) {
                cfg.auth_method = m;
                found = true;
            }
        if (!found)
            throw usage_error{"unknown --auth-method " + method + " (see --help)"};
    }
    if (!key_file.empty()) {
        auto key = signing_key::load_pem_file(key_file, key_id, diag);
        if (!key)
            throw usage_error{"--key " + key_file + ": " + key.error().message()};
        cfg.client_key = *key;
    }
    http_client_options options;
    if (!subject.empty()) {
        options.actor_token = actor_token(subject.front() == '@' ? read_file(subject.substr(1)) : subject);
        if (grant.empty())
            cfg.grant = grant_type::token_exchange;
    }
    if (!grant.empty()) {
        if (grant == "client_credentials") cfg.grant = grant_type::client_credentials;
        else if (grant == "token_exchange") cfg.grant = grant_type::token_exchange;
        else if (grant == "automatic") cfg.grant = grant_type::automatic;
        else throw usage_error{"unknown --grant " + grant + " (see --help)"};
    } else if (subject.empty() && cfg.grant == grant_type::token_exchange) {
        throw usage_error{"the configured grant is token exchange: give --subject-token"};
    }
    if (cfg.token_endpoint.empty() && cfg.discovery_document_url.empty())
        throw usage_error{"no token endpoint: give --token-url, --issuer or --config"};
    if (cfg.client_id.empty())
        throw usage_error{"no client id: give --client-id or --config"};
    cfg.cache.enabled = false;
    cfg.retry.max_attempts = 1; // a command-line tool reports at once; run it again to retry

    asio::io_context ctx;
    std::unique_ptr<authorization_service> auth;
    try {
        auth = std::make_unique<authorization_service>(ctx.get_executor(), cfg);
    } catch (const error_with_diagnostics& e) {
        throw usage_error{std::string(e.what()) + " (" + std::string(e.get_diagnostics().client_message()) + ")"};
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (verbose) {
        std::cerr << "tetrapak-token: " << cfg << '\n';
        auth->set_trace([](const trace_event& e) {
            if (e.finished)
                std::cerr << "  " << e << '\n';
        });
        auth->set_metrics([](const metrics_event& e) {
            if (e.metric == metric::connection_opened || e.metric == metric::connection_reused ||
                e.metric == metric::tls_resumed || e.metric == metric::retry)
                std::cerr << "  " << e << '\n';
        });
    }
    boost::system::error_code ec;
    actor_token token;
    auth->async_authorize(options, diag, [&](boost::system::error_code e, actor_token t) {
        ec = e;
        token = std::move(t);
    });
    ctx.run();
    if (verbose)
        std::cerr << "  total " << std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count()
                  << " us\n";

    if (ec) {
        std::cerr << "tetrapak-token: " << ec.message() << '\n';
        if (!diag.error().empty())
            std::cerr << "  error: " << diag.error() << '\n';
        if (!diag.error_description().empty())
            std::cerr << "  error_description: " << diag.error_description() << '\n';
        if (diag.http_status())
            std::cerr << "  http_status: " << diag.http_status() << '\n';
        if (!diag.client_message().empty())
            std::cerr << "  detail: " << diag.client_message() << '\n';
        return classify(ec);
    }
    if (verbose)
        std::cerr << "  token: " << token << '\n';
    if (!json) {
        std::cout << token.value() << '\n';
        return exit_ok;
    }
    boost::json::object o;
    o["access_token"] = token.value();
    o["token_type"] = token.token_type();
    if (auto exp = token.expires_at())
        o["expires_in"] = std::chrono::duration_cast<std::chrono::seconds>(*exp - std::chrono::system_clock::now()).count();
    std::string scope;
    for (auto& s : token.scope())
        scope += (scope.empty() ? "" : " ") + s;
    if (!scope.empty())
        o["scope"] = scope;
    if (!token.issued_token_type().empty())
        o["issued_token_type"] = token.issued_token_type();
    if (auto rt = token.refresh_token())
        o["refresh_token"] = *rt;
    std::cout << boost::json::serialize(o) << '\n';
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
