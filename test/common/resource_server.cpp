// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "resource_server.hpp"

#include "fault_server.hpp"

#include <tetrapak/signing_key.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <new>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_set>

namespace tetrapak::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;
using ssl_stream = asio::ssl::stream<beast::tcp_stream>;
constexpr auto awaitable_tuple = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view dpop_algs = "ES256 RS256 PS256 EdDSA";

// Concatenation by appending: "literal" + std::string trips GCC 12's false -Wrestrict at -O3.
template <class... T>
std::string cat(const T&... parts)
{
    std::string s;
    (s.append(std::string_view(parts)), ...);
    return s;
}

/// A Beast (or any) string view as a std::string_view.
template <class S>
std::string_view sv(const S& s)
{
    return {s.data(), s.size()};
}

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

std::string sha256(std::string_view data)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr) != 1)
        throw std::bad_alloc();
    return std::string(reinterpret_cast<const char*>(md), n);
}

/// base64url without padding -> bytes, with OpenSSL's decoder after translating
/// the alphabet; nothing when `in` is not base64url.
std::optional<std::string> base64url_decode(std::string_view in)
{
    const std::size_t pad = (4 - in.size() % 4) % 4;
    if (pad == 3)
        return std::nullopt;
    std::string b64(in);
    for (char& c : b64) {
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return std::nullopt;
    }
    b64.append(pad, '=');
    std::string out(b64.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes(b64), static_cast<int>(b64.size()));
    if (n < 0)
        return std::nullopt;
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

std::optional<json::object> json_part(std::string_view b64url)
{
    auto text = base64url_decode(b64url);
    if (!text)
        return std::nullopt;
    boost::system::error_code ec;
    json::value v = json::parse(*text, ec);
    if (ec || !v.is_object())
        return std::nullopt;
    return std::move(v.get_object());
}

/// A compact JWS split into its parts.
struct jws_parts {
    std::string_view header, payload, signature, signing_input;
};

std::optional<jws_parts> split_jws(std::string_view s)
{
    const auto a = s.find('.');
    const auto b = a == s.npos ? s.npos : s.find('.', a + 1);
    if (b == s.npos || s.find('.', b + 1) != s.npos)
        return std::nullopt;
    return jws_parts{s.substr(0, a), s.substr(a + 1, b - a - 1), s.substr(b + 1), s.substr(0, b)};
}

/// The claims of a JWT access token, read without verifying it; nothing when it is not a JWS.
std::optional<json::object> token_claims(std::string_view token)
{
    auto parts = split_jws(token);
    if (!parts || !json_part(parts->header))
        return std::nullopt;
    return json_part(parts->payload);
}

std::string_view member(const json::object& o, std::string_view key)
{
    const json::value* v = o.if_contains(key);
    if (!v || !v->is_string())
        return {};
    return {v->get_string().data(), v->get_string().size()};
}

std::string_view cnf_member(const json::object& claims, std::string_view key)
{
    const json::value* cnf = claims.if_contains("cnf");
    return cnf && cnf->is_object() ? member(cnf->get_object(), key) : std::string_view{};
}

/// An htu as RFC 9449 §4.3 lets a server compare it: without query and fragment,
/// after syntax- and scheme-based normalisation as far as it matters here
/// (RFC 3986 §6.2.2.1 case of scheme and host, §6.2.3 an empty path is "/").
std::string normalized_htu(std::string_view htu)
{
    htu = htu.substr(0, htu.find_first_of("?#"));
    const auto authority = htu.find("://");
    if (authority == htu.npos)
        return std::string(htu);
    const auto path = htu.find('/', authority + 3);
    std::string out(htu.substr(0, path));
    for (char& c : out)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    out.append(path == htu.npos ? std::string_view("/") : htu.substr(path));
    return out;
}

std::string cert_thumbprint(X509* cert)
{
    const int len = i2d_X509(cert, nullptr);
    if (len <= 0)
        return {};
    std::string der(static_cast<std::size_t>(len), '\0');
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    i2d_X509(cert, &p);
    return base64url_encode(sha256(der));
}

std::string fresh_nonce()
{
    unsigned char r[16];
    if (RAND_bytes(r, sizeof r) != 1)
        throw std::runtime_error("RAND_bytes failed");
    return base64url_encode(std::string_view(reinterpret_cast<const char*>(r), sizeof r));
}

// ---- the proof's key and signature, with OpenSSL ----------------------------

struct pkey_free {
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

pkey_ptr public_key(const char* type, OSSL_PARAM* params)
{
    std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr),
                                                                   &EVP_PKEY_CTX_free);
    EVP_PKEY* key = nullptr;
    if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 || EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
        return nullptr;
    return pkey_ptr(key);
}

pkey_ptr rsa_public_key(const std::string& n, const std::string& e)
{
    using bn_ptr = std::unique_ptr<BIGNUM, decltype(&BN_free)>;
    bn_ptr bn_n(BN_bin2bn(bytes(n), static_cast<int>(n.size()), nullptr), &BN_free);
    bn_ptr bn_e(BN_bin2bn(bytes(e), static_cast<int>(e.size()), nullptr), &BN_free);
    std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld(OSSL_PARAM_BLD_new(), &OSSL_PARAM_BLD_free);
    if (!bn_n || !bn_e || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
        return nullptr;
    std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(OSSL_PARAM_BLD_to_param(bld.get()), &OSSL_PARAM_free);
    return params ? public_key("RSA", params.get()) : nullptr;
}

/// The public key a proof's jwk describes, for `alg`; or why there is none.
pkey_ptr key_from_jwk(const json::object& jwk, std::string_view alg, std::string& why)
{
    for (const char* priv : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
        if (jwk.contains(priv)) {
            why = cat("jwk has a private member (", std::string_view(priv), ")");
            return nullptr;
        }
    const std::string_view kty = member(jwk, "kty");
    const std::string_view crv = member(jwk, "crv");
    auto x = base64url_decode(member(jwk, "x"));
    pkey_ptr key;
    if (alg == "ES256") {
        auto y = base64url_decode(member(jwk, "y"));
        if (kty != "EC" || crv != "P-256" || !x || !y || x->size() != 32 || y->size() != 32) {
            why = "jwk is not an EC P-256 key with 32-byte x and y (ES256)";
            return nullptr;
        }
        std::string point = cat(std::string_view("\x04", 1), *x, *y);
        char group[] = "prime256v1";
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
                               OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
                               OSSL_PARAM_construct_end()};
        key = public_key("EC", params);
    } else if (alg == "EdDSA") {
        if (kty != "OKP" || crv != "Ed25519" || !x || x->size() != 32) {
            why = "jwk is not an OKP Ed25519 key with a 32-byte x (EdDSA)";
            return nullptr;
        }
        OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, x->data(), x->size()),
                               OSSL_PARAM_construct_end()};
        key = public_key("ED25519", params);
    } else { // RS256, PS256
        auto n = base64url_decode(member(jwk, "n"));
        auto e = base64url_decode(member(jwk, "e"));
        if (kty != "RSA" || !n || !e || n->empty() || e->empty() || (*n)[0] == '\0') {
            why = "jwk is not an RSA key with n (no leading zero) and e";
            return nullptr;
        }
        key = rsa_public_key(*n, *e);
        if (key && EVP_PKEY_get_bits(key.get()) < 2048) {
            why = "jwk is an RSA key shorter than 2048 bits";
            return nullptr;
        }
    }
    if (!key)
        why = "jwk is not a valid public key";
    return key;
}

/// ES256 signatures are R||S (RFC 7518 §3.4); OpenSSL verifies DER.
std::optional<std::string> ecdsa_der(std::string_view rs)
{
    if (rs.size() != 64)
        return std::nullopt;
    using bn_ptr = std::unique_ptr<BIGNUM, decltype(&BN_free)>;
    bn_ptr r(BN_bin2bn(bytes(rs), 32, nullptr), &BN_free);
    bn_ptr s(BN_bin2bn(bytes(rs.substr(32)), 32, nullptr), &BN_free);
    std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(ECDSA_SIG_new(), &ECDSA_SIG_free);
    if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1)
        return std::nullopt;
    r.release(); // owned by sig now
    s.release();
    unsigned char* der = nullptr;
    const int len = i2d_ECDSA_SIG(sig.get(), &der);
    if (len <= 0)
        return std::nullopt;
    std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
    return out;
}

bool signature_verifies(EVP_PKEY* key, std::string_view alg, std::string_view input, std::string sig)
{
    if (alg == "ES256") {
        auto der = ecdsa_der(sig);
        if (!der)
            return false;
        sig = std::move(*der);
    }
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    EVP_PKEY_CTX* pctx = nullptr; // owned by ctx
    const char* md = alg == "EdDSA" ? nullptr : "SHA256";
    bool ok = ctx && EVP_DigestVerifyInit_ex(ctx.get(), &pctx, md, nullptr, nullptr, key, nullptr) == 1;
    if (ok && alg == "PS256") // RFC 7518 §3.5: MGF1 with SHA-256, salt as long as the hash
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA256", nullptr) == 1;
    ok = ok && EVP_DigestVerify(ctx.get(), bytes(sig), sig.size(), bytes(input), input.size()) == 1;
    ERR_clear_error(); // a refused proof leaves nothing on this thread's error queue
    return ok;
}

// ---- the decision -------------------------------------------------------------

struct connection_info {
    int number = 0;
    std::string client_cert; ///< base64url(SHA-256(DER)), "" when none
};

/// Why a request is refused: the WWW-Authenticate error and its description.
struct refusal {
    std::string error;
    std::string reason;
};

using check = std::optional<refusal>;

check refuse(std::string_view error, std::string reason) { return refusal{std::string(error), std::move(reason)}; }

std::string www_authenticate(std::string_view scheme, const refusal& r, bool with_algs)
{
    std::string params;
    auto param = [&params](std::string_view name, std::string_view value) {
        params.append(params.empty() ? " " : ", ").append(name).append("=\"").append(value).append("\"");
    };
    if (!r.error.empty()) {
        param("error", r.error);
        param("error_description", r.reason);
    }
    if (with_algs)
        param("algs", dpop_algs);
    return cat(scheme, params);
}

} // namespace

std::string jwk_thumbprint(const json::object& jwk)
{
    const std::string_view kty = member(jwk, "kty");
    std::vector<std::string_view> required;
    if (kty == "EC")
        required = {"crv", "kty", "x", "y"};
    else if (kty == "RSA")
        required = {"e", "kty", "n"};
    else if (kty == "OKP")
        required = {"crv", "kty", "x"};
    else
        return {};
    std::string canonical = "{";
    for (std::string_view name : required) {
        const std::string_view value = member(jwk, name);
        if (value.empty())
            return {};
        if (canonical.size() > 1)
            canonical += ',';
        canonical.append("\"").append(name).append("\":").append(json::serialize(json::string(value)));
    }
    canonical += '}';
    return base64url_encode(sha256(canonical));
}

std::string x5t_s256(const std::string& pem_file)
{
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(pem_file.c_str(), "r"), &BIO_free);
    std::unique_ptr<X509, decltype(&X509_free)> cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr,
                                                     &X509_free);
    if (!cert)
        throw std::runtime_error(cat("cannot read a certificate from ", pem_file));
    return cert_thumbprint(cert.get());
}

struct resource_server::impl {
    explicit impl(resource_options o)
        : opts(std::move(o)), acceptor(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
          port(acceptor.local_endpoint().port()), nonce(fresh_nonce())
    {
        asio::co_spawn(ctx, accept_loop(), asio::detached);
        thread = std::thread([this] { ctx.run(); });
    }

    ~impl()
    {
        asio::post(ctx, [this] {
            stopping = true;
            boost::system::error_code ec;
            acceptor.close(ec);
            for (beast::tcp_stream* s : live)
                s->close();
        });
        thread.join();
    }

    /// A copy of a member that mtx guards, for the test's thread.
    template <class T>
    T locked(T impl::*m) const
    {
        std::lock_guard lock(mtx);
        return this->*m;
    }

    asio::awaitable<void> accept_loop();
    asio::awaitable<void> session(tcp::socket sock, int number);
    response respond(const request& req, const connection_info& conn);
    // The checks run under mtx.
    check authorize(const request& req, const connection_info& conn, verdict& v);
    check check_mtls(const std::optional<json::object>& claims, const connection_info& conn) const;
    check check_dpop(const request& req, std::string_view token, verdict& v);
    check check_proof_claims(const request& req, std::string_view token, const json::object& claims);

    const resource_options opts;
    // The io thread's own; like tls, they outlive the streams in ctx.
    bool stopping = false;
    std::set<beast::tcp_stream*> live;
    asio::ssl::context tls = server_tls_context();
    asio::io_context ctx;
    tcp::acceptor acceptor;
    const unsigned short port;
    std::thread thread;

    mutable std::mutex mtx; // guards what follows
    std::vector<verdict> verdicts;
    int connections = 0;
    int accepted = 0;
    int nonce_challenges = 0;
    int replays = 0;
    int nonce_uses = 0;
    std::string last_scheme;
    json::object last_claims;
    std::string nonce;
    std::unordered_set<std::string> jtis;
};

asio::awaitable<void> resource_server::impl::accept_loop()
{
    for (;;) {
        auto [ec, sock] = co_await acceptor.async_accept(awaitable_tuple);
        if (ec || stopping)
            co_return;
        int number;
        {
            std::lock_guard lock(mtx);
            number = ++connections;
        }
        asio::co_spawn(ctx, session(std::move(sock), number), asio::detached);
    }
}

asio::awaitable<void> resource_server::impl::session(tcp::socket sock, int number)
{
    if (stopping)
        co_return;
    connection_info conn{number, {}};
    ssl_stream stream(beast::tcp_stream(std::move(sock)), tls);
    beast::tcp_stream& tcp = beast::get_lowest_layer(stream);
    live.insert(&tcp);
    struct unregister {
        std::set<beast::tcp_stream*>& live;
        beast::tcp_stream* s;
        ~unregister() { live.erase(s); }
    } guard{live, &tcp};

    // Ask for a certificate, require none, accept any: the binding is checked per request.
    stream.set_verify_mode(asio::ssl::verify_peer);
    stream.set_verify_callback([&conn](bool, asio::ssl::verify_context& vc) {
        X509_STORE_CTX* store = vc.native_handle();
        if (X509_STORE_CTX_get_error_depth(store) == 0)
            if (X509* cert = X509_STORE_CTX_get_current_cert(store))
                conn.client_cert = cert_thumbprint(cert);
        return true;
    });
    tcp.expires_after(std::chrono::seconds(10));
    auto [hs] = co_await stream.async_handshake(asio::ssl::stream_base::server, awaitable_tuple);
    if (hs)
        co_return;
    if (X509* peer = SSL_get0_peer_certificate(stream.native_handle()); peer && conn.client_cert.empty())
        conn.client_cert = cert_thumbprint(peer); // a resumed session: no verify callback
    beast::flat_buffer buf;
    for (;;) {
        tcp.expires_after(std::chrono::seconds(30));
        request req;
        auto [rd, rn] = co_await http::async_read(stream, buf, req, awaitable_tuple);
        if (rd)
            co_return;
        response res = respond(req, conn);
        auto [wr, wn] = co_await http::async_write(stream, res, awaitable_tuple);
        if (wr || stopping)
            co_return;
        if (!res.keep_alive())
            break;
    }
    tcp.expires_after(std::chrono::seconds(5));
    co_await stream.async_shutdown(awaitable_tuple);
}

response resource_server::impl::respond(const request& req, const connection_info& conn)
{
    const bool dpop = opts.mode == resource_mode::dpop;
    std::lock_guard lock(mtx);
    verdict v;
    v.method = std::string(sv(req.method_string()));
    v.target = std::string(sv(req.target()));
    v.client_cert = conn.client_cert;
    v.connection = conn.number;
    const check refused = authorize(req, conn, v);
    v.accepted = !refused;
    response res{http::status::ok, req.version()};
    if (refused) {
        v.error = refused->error;
        v.reason = refused->reason;
        if (refused->error == "use_dpop_nonce")
            ++nonce_challenges;
        res.result(refused->error == "invalid_request" ? http::status::bad_request : http::status::unauthorized);
        res.set(http::field::www_authenticate, www_authenticate(dpop ? "DPoP" : "Bearer", *refused, dpop));
        res.body() = refused->reason;
    } else {
        v.reason = "accepted";
        ++accepted;
        if (dpop && opts.require_nonce && opts.rotate_nonce_every > 0 && ++nonce_uses % opts.rotate_nonce_every == 0)
            nonce = fresh_nonce(); // sent with this success
        res.result(opts.status);
        res.body() = opts.body;
    }
    if (dpop && opts.require_nonce)
        res.set("DPoP-Nonce", nonce);
    res.set(http::field::content_type, "text/plain");
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    verdicts.push_back(std::move(v));
    return res;
}

check resource_server::impl::authorize(const request& req, const connection_info& conn, verdict& v)
{
    const auto authorizations = req.count(http::field::authorization);
    if (authorizations == 0)
        return refuse("", "no Authorization header");
    if (authorizations > 1)
        return refuse("invalid_request", "more than one Authorization header");
    const std::string_view header = sv(req[http::field::authorization]);
    const auto space = header.find(' ');
    const std::string_view scheme = header.substr(0, space);
    std::string_view token = space == header.npos ? std::string_view{} : header.substr(space + 1);
    token.remove_prefix(std::min(token.find_first_not_of(' '), token.size()));
    v.scheme = std::string(scheme);
    last_scheme = v.scheme;
    if (token.empty())
        return refuse("invalid_request", "no token after the Authorization scheme");

    if (beast::iequals(scheme, "Bearer")) {
        const auto claims = token_claims(token);
        if (claims && !cnf_member(*claims, "jkt").empty())
            return refuse("invalid_token", "DPoP-bound token sent as Bearer");
        if (req.count("DPoP") > 0)
            return refuse("invalid_request", "DPoP proof sent with a Bearer token (violation)");
        switch (opts.mode) {
        case resource_mode::bearer_only:
            return std::nullopt;
        case resource_mode::mtls_bound:
            return check_mtls(claims, conn);
        case resource_mode::dpop:
            break;
        }
        return refuse("invalid_token", "Bearer token where DPoP is required");
    }
    if (beast::iequals(scheme, "DPoP")) {
        if (opts.mode != resource_mode::dpop)
            return refuse("invalid_token", "DPoP scheme where a Bearer token is expected");
        return check_dpop(req, token, v);
    }
    return refuse("invalid_request", cat("unknown Authorization scheme ", scheme));
}

check resource_server::impl::check_mtls(const std::optional<json::object>& claims, const connection_info& conn) const
{
    if (!claims)
        return refuse("invalid_token", "token is not a JWT: no cnf.x5t#S256 to check");
    const std::string_view x5t = cnf_member(*claims, "x5t#S256");
    if (x5t.empty())
        return refuse("invalid_token", "token is not certificate-bound (no cnf.x5t#S256)");
    if (conn.client_cert.empty())
        return refuse("invalid_token", "no client certificate on this connection");
    if (x5t != conn.client_cert)
        return refuse("invalid_token", cat("client certificate does not match cnf.x5t#S256 (certificate ", conn.client_cert,
                                           ", token ", x5t, ")"));
    return std::nullopt;
}

check resource_server::impl::check_dpop(const request& req, std::string_view token, verdict& v)
{
    const auto proofs = req.count("DPoP");
    if (proofs == 0)
        return refuse("invalid_dpop_proof", "no DPoP header");
    if (proofs > 1)
        return refuse("invalid_dpop_proof", "more than one DPoP header");
    const auto parts = split_jws(sv(req["DPoP"]));
    auto header = parts ? json_part(parts->header) : std::nullopt;
    auto claims = parts ? json_part(parts->payload) : std::nullopt;
    auto signature = parts ? base64url_decode(parts->signature) : std::nullopt;
    if (!header || !claims || !signature)
        return refuse("invalid_dpop_proof", "DPoP proof is not a compact JWS of JSON objects");
    last_claims = *claims;

    if (member(*header, "typ") != "dpop+jwt")
        return refuse("invalid_dpop_proof", "typ is not dpop+jwt");
    const std::string_view alg = member(*header, "alg");
    if (alg != "ES256" && alg != "RS256" && alg != "PS256" && alg != "EdDSA")
        return refuse("invalid_dpop_proof", cat("alg is not one of ", dpop_algs));
    const json::value* jwk = header->if_contains("jwk");
    if (!jwk || !jwk->is_object())
        return refuse("invalid_dpop_proof", "no jwk object in the proof header");
    v.jkt = jwk_thumbprint(jwk->get_object());
    std::string why;
    const pkey_ptr key = key_from_jwk(jwk->get_object(), alg, why);
    if (!key)
        return refuse("invalid_dpop_proof", why);
    if (!signature_verifies(key.get(), alg, parts->signing_input, std::move(*signature)))
        return refuse("invalid_dpop_proof", "signature does not verify with the jwk");
    if (check c = check_proof_claims(req, token, *claims))
        return c;

    // The token's binding to the proof key (RFC 9449 §6, §7.1).
    if (const auto tc = token_claims(token)) {
        const std::string_view jkt = cnf_member(*tc, "jkt");
        if (jkt.empty())
            return refuse("invalid_token", "access token is not DPoP-bound (no cnf.jkt)");
        if (jkt != v.jkt)
            return refuse("invalid_token", cat("cnf.jkt does not match the proof's jwk (token ", jkt, ", proof ", v.jkt, ")"));
    }
    if (opts.expected_jkt && *opts.expected_jkt != v.jkt)
        return refuse("invalid_token", cat("proof key is not the expected one (", v.jkt, ")"));
    return std::nullopt;
}

check resource_server::impl::check_proof_claims(const request& req, std::string_view token, const json::object& claims)
{
    // Every validly signed proof is used up, whatever else is wrong with it.
    const std::string_view jti = member(claims, "jti");
    if (jti.empty())
        return refuse("invalid_dpop_proof", "no jti");
    if (!jtis.emplace(jti).second) {
        ++replays;
        return refuse("invalid_dpop_proof", cat("jti was used before (replay): ", jti));
    }
    const std::string_view htm = member(claims, "htm");
    const std::string_view method = sv(req.method_string());
    if (htm != method)
        return refuse("invalid_dpop_proof", cat("htm does not match the request method (proof ", htm, ", request ", method, ")"));
    const std::string htu = normalized_htu(member(claims, "htu"));
    const std::string_view target = sv(req.target());
    const std::string expected = cat("https://127.0.0.1:", std::to_string(port), target.substr(0, target.find_first_of("?#")));
    if (htu != expected)
        return refuse("invalid_dpop_proof", cat("htu does not match the request URI (proof ", htu, ", expected ", expected, ")"));
    const json::value* iat = claims.if_contains("iat");
    if (!iat || !iat->is_number())
        return refuse("invalid_dpop_proof", "no numeric iat");
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    boost::system::error_code ec;
    const double at = iat->to_number<double>(ec);
    if (ec || std::fabs(now - at) > static_cast<double>(opts.iat_window.count()))
        return refuse("invalid_dpop_proof", cat("iat is outside the window of ", std::to_string(opts.iat_window.count()),
                                                " s (iat ", std::to_string(static_cast<long long>(at)), ", now ",
                                                std::to_string(static_cast<long long>(now)), ")"));
    const json::value* ath = claims.if_contains("ath");
    if (!ath)
        return refuse("invalid_dpop_proof", "no ath claim for the access token");
    if (member(claims, "ath") != base64url_encode(sha256(token)))
        return refuse("invalid_dpop_proof", "ath does not match the access token");
    if (opts.require_nonce) {
        const std::string_view n = member(claims, "nonce");
        if (n != nonce)
            return refuse("use_dpop_nonce", n.empty() ? "proof has no nonce" : "nonce is not the current one");
    }
    return std::nullopt;
}

resource_server::resource_server(resource_options opts) : impl_(std::make_unique<impl>(std::move(opts))) {}

resource_server::~resource_server() = default;

unsigned short resource_server::port() const noexcept { return impl_->port; }

std::string resource_server::url(std::string_view path) const
{
    return cat("https://127.0.0.1:", std::to_string(impl_->port), path);
}

int resource_server::requests() const
{
    std::lock_guard lock(impl_->mtx);
    return static_cast<int>(impl_->verdicts.size());
}

int resource_server::accepted() const { return impl_->locked(&impl::accepted); }

int resource_server::connections() const { return impl_->locked(&impl::connections); }

int resource_server::nonce_challenges() const { return impl_->locked(&impl::nonce_challenges); }

int resource_server::replays() const { return impl_->locked(&impl::replays); }

std::vector<verdict> resource_server::verdicts() const { return impl_->locked(&impl::verdicts); }

std::string resource_server::last_scheme() const { return impl_->locked(&impl::last_scheme); }

json::object resource_server::last_proof_claims() const { return impl_->locked(&impl::last_claims); }

std::string resource_server::current_nonce() const { return impl_->locked(&impl::nonce); }

} // namespace tetrapak::test
