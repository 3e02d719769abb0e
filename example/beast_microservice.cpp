// A Beast HTTPS microservice that receives a caller's token, gets a token for
// the next service (RFC 8693 token exchange for users, client credentials for
// system callers: the SDK's Automatic grant) and calls that service with it.
// The "next service" is a second small Beast service in this same program.
//
//   beast_microservice CONFIG_JSON CERT_DIR [PORT]
//
// CONFIG_JSON: a TetraPak appsettings file; the service "Orders" is used.
// CERT_DIR: server.pem, server.key (served by both services) and ca.pem
// (trusted for the token endpoint and the downstream service).
// Prints "LISTENING <port> DOWNSTREAM <port>" once both listen.
//
// Frontend:   GET /orders  -> the downstream's answer, with the grant chosen
//             GET /orders-noauth -> the same downstream call without a token
//                             (grant none: the baseline of benchmark 6 in bench/README.md)
//             GET /slow    -> a downstream call that never ends (close the
//                             connection: the outgoing call is cancelled)
//             GET /stats   -> the authorization service's counters (JSON)
//             GET /metrics -> the same counters and latency histograms for
//                             Prometheus (when built with tetrapak::prometheus)
//             POST /quit   -> stops the program
// Downstream: GET /orders  -> 401 without a (non-revoked) Bearer token, else
//                             the claims it received
//             GET /orders-noauth -> the same answer, no token required
//             POST /revoke -> revokes the last token it accepted (a demo of
//                             the client's renew-once-after-401)
//             GET /slow    -> never answers
#include <tetrapak.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#if TETRAPAK_EXAMPLE_PROMETHEUS
#include <tetrapak/prometheus.hpp>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#endif

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <set>
#include <string>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using tls_stream = ssl::stream<beast::tcp_stream>;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;
using asio::use_awaitable;
using namespace asio::experimental::awaitable_operators;
constexpr auto as_tuple = asio::as_tuple(use_awaitable);

namespace {

response json_response(const request& req, http::status status, const json::value& body)
{
    response res{status, req.version()};
    res.set(http::field::content_type, "application/json");
    res.keep_alive(req.keep_alive());
    res.body() = json::serialize(body);
    res.prepare_payload();
    return res;
}

/// Completes when the caller closed its connection (or sent more while we work).
asio::awaitable<void> caller_gone(tls_stream& stream)
{
    char byte;
    co_await stream.async_read_some(asio::buffer(&byte, 1), as_tuple);
}

// ---------------------------------------------------------------------------
// The downstream service (stands for the next microservice in the chain)

struct downstream_state {
    std::mutex mtx;
    std::string last_token;
    std::set<std::string> revoked;
};

asio::awaitable<void> downstream_session(tls_stream stream, downstream_state& st)
{
    if (auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, as_tuple); ec)
        co_return;
    beast::flat_buffer buf;
    for (;;) {
        request req;
        if (auto [ec, n] = co_await http::async_read(stream, buf, req, as_tuple); ec)
            co_return;
        if (req.target() == "/slow") { // never answers: wait until the caller goes
            co_await caller_gone(stream);
            std::cerr << "downstream: caller went away" << std::endl;
            co_return;
        }
        response res;
        // A real service validates the token (signature, issuer, audience)
        // against the issuer's JWKS; this demo only reads its claims.
        auto token = tetrapak::incoming_token(req);
        if (req.method() == http::verb::post && req.target() == "/revoke") {
            std::lock_guard lock(st.mtx);
            st.revoked.insert(st.last_token);
            res = json_response(req, http::status::ok, {{"revoked", true}});
        } else if (req.target() == "/orders" || req.target() == "/orders-noauth") {
            const bool open = req.target() == "/orders-noauth"; // needs no token
            std::unique_lock lock(st.mtx);
            if (!open && (token.empty() || st.revoked.count(std::string(token.value())))) {
                lock.unlock();
                res = json_response(req, http::status::unauthorized, {{"error", "invalid_token"}});
                res.set(http::field::www_authenticate, "Bearer error=\"invalid_token\"");
            } else {
                if (!open)
                    st.last_token = token.value();
                lock.unlock();
                json::object o;
                o["sub"] = token.string_claim("sub").value_or("");
                o["aud"] = token.string_claim("aud").value_or("");
                auto act = token.claims().if_contains("act");
                o["act_sub"] = act && act->is_object() && act->as_object().if_contains("sub")
                                   ? act->as_object().at("sub")
                                   : json::value("");
                o["flow_id"] = std::string(req["api-flow-id"]);
                res = json_response(req, http::status::ok, o);
            }
        } else {
            res = json_response(req, http::status::not_found, {{"error", "not found"}});
        }
        if (auto [ec, n] = co_await http::async_write(stream, res, as_tuple); ec || !res.keep_alive())
            co_return;
    }
}

// ---------------------------------------------------------------------------
// The frontend service

struct app {
    asio::io_context& ctx;
    tetrapak::authorization_service& auth;
    tetrapak::authorized_client& client;
    std::shared_ptr<const tetrapak::auth_config> orders; // the "Orders" service's configuration
    std::shared_ptr<const tetrapak::auth_config> no_auth; // the same with grant none: no token
    std::string downstream;                              // https://127.0.0.1:PORT
#if TETRAPAK_EXAMPLE_PROMETHEUS
    prometheus::Registry* registry = nullptr; // what GET /metrics serves
#endif
};

json::object stats_json(const tetrapak::authorization_service& auth)
{
    json::object o;
    auto s = auth.stats();
    for (std::size_t i = 0; i < tetrapak::metric_count; ++i)
        o[tetrapak::to_string(static_cast<tetrapak::metric>(i))] = s.counts[i];
    return o;
}

/// GET /metrics: the Prometheus text format (version 0.0.4).
response metrics_response(const request& req, [[maybe_unused]] const app& a)
{
#if TETRAPAK_EXAMPLE_PROMETHEUS
    response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.keep_alive(req.keep_alive());
    res.body() = prometheus::TextSerializer().Serialize(a.registry->Collect());
    res.prepare_payload();
    return res;
#else
    return json_response(req, http::status::not_found,
                         {{"error", "built without prometheus-cpp: install prometheus-cpp-dev and rebuild"}});
#endif
}

/// GET /orders and /slow: the caller's token -> a token for Orders -> the downstream call.
/// GET /orders-noauth: the same call without a token.
asio::awaitable<void> call_downstream(app& a, const request& req, response& res)
{
    const auto t0 = std::chrono::steady_clock::now();
    const auto& cfg = req.target() == "/orders-noauth" ? a.no_auth : a.orders;
    auto subject = tetrapak::incoming_token(req); // the caller's JWT, if any
    tetrapak::diagnostics diag;
    auto grant = tetrapak::resolve_grant(cfg->grant, subject, diag); // only to report the choice

    tetrapak::outgoing_options o;
    o.authorization.auth_config = cfg;
    o.authorization.actor_token = subject;
    o.correlation_id = std::string(req["api-flow-id"]);
    const auto before = a.auth.stats();
    auto [ec, down] = co_await a.client.async_send(a.downstream + std::string(req.target()), {http::verb::get, "/", 11},
                                                   std::move(o), diag, as_tuple);
    if (ec) {
        res = json_response(req, http::status::bad_gateway,
                            {{"error", diag.error().empty() ? ec.message() : std::string(diag.error())},
                             {"error_description", std::string(diag.error_description())}});
        co_return;
    }
    const auto after = a.auth.stats();
    json::object o2;
    o2["grant"] = grant ? std::string(tetrapak::to_string(*grant)) : std::string("none");
    auto body = json::parse(down.body(), ec);
    o2["downstream"] = ec ? json::value(down.body()) : body;
    o2["downstream_status"] = down.result_int();
    o2["cache_hits"] = after[tetrapak::metric::cache_hit] - before[tetrapak::metric::cache_hit];
    o2["token_requests"] = after[tetrapak::metric::fetch] - before[tetrapak::metric::fetch];
    o2["fleet_hits"] = after[tetrapak::metric::fleet_hit] - before[tetrapak::metric::fleet_hit]; // another instance's token
    o2["elapsed_us"] =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    res = json_response(req, http::status::ok, o2);
}

asio::awaitable<void> frontend_session(tls_stream stream, app& a)
{
    if (auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, as_tuple); ec)
        co_return;
    beast::flat_buffer buf;
    for (;;) {
        request req;
        if (auto [ec, n] = co_await http::async_read(stream, buf, req, as_tuple); ec)
            co_return;
        response res;
        bool quit = false;
        if (req.target() == "/orders" || req.target() == "/orders-noauth" || req.target() == "/slow") {
            // Whichever finishes first wins; the other is cancelled. A caller
            // that disconnects cancels the token fetch and the downstream call.
            auto r = co_await (call_downstream(a, req, res) || caller_gone(stream));
            if (r.index() == 1) {
                std::cerr << "frontend: caller went away; the outgoing call was cancelled" << std::endl;
                co_return;
            }
        } else if (req.target() == "/stats") {
            res = json_response(req, http::status::ok, stats_json(a.auth));
        } else if (req.target() == "/metrics") {
            res = metrics_response(req, a);
        } else if (req.method() == http::verb::post && req.target() == "/quit") {
            res = json_response(req, http::status::ok, {{"bye", true}});
            quit = true;
        } else {
            res = json_response(req, http::status::not_found, {{"error", "not found"}});
        }
        auto [ec, n] = co_await http::async_write(stream, res, as_tuple);
        if (quit)
            a.ctx.stop();
        if (ec || !res.keep_alive())
            co_return;
    }
}

template <class Session>
asio::awaitable<void> listen(tcp::acceptor& acceptor, ssl::context& tls, Session session)
{
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(as_tuple);
        if (ec)
            co_return;
        socket.set_option(tcp::no_delay(true), ec); // small answers go out at once (no Nagle wait)
        asio::co_spawn(acceptor.get_executor(), session(tls_stream(beast::tcp_stream(std::move(socket)), tls)),
                       asio::detached);
    }
}

int run(int argc, char** argv)
{
    if (argc < 3) {
        std::cerr << "usage: " << argv[0] << " CONFIG_JSON CERT_DIR [PORT]\n";
        return 2;
    }
    const std::string certs = argv[2];
    tetrapak::diagnostics diag;
    auto settings = tetrapak::load_settings_file(argv[1], diag);
    if (!settings) {
        std::cerr << argv[1] << ": " << settings.error().message() << ' ' << diag << '\n';
        return 1;
    }
    auto cfg = settings->resolve("Orders", "", [](const char* n) { return std::getenv(n); }, diag);
    if (!cfg) {
        std::cerr << argv[1] << ": " << cfg.error().message() << ' ' << diag << '\n';
        return 1;
    }
    cfg->tls.ca_file = certs + "/ca.pem";

    asio::io_context ctx;
    ssl::context server_tls(ssl::context::tls_server);
    server_tls.use_certificate_chain_file(certs + "/server.pem");
    server_tls.use_private_key_file(certs + "/server.key", ssl::context::pem);

#if TETRAPAK_EXAMPLE_PROMETHEUS
    prometheus::Registry registry; // outlives the service, whose metrics hook counts into it
#endif
    tetrapak::authorization_service auth(ctx.get_executor(), *cfg); // its TLS context trusts ca.pem
    tetrapak::authorized_client client(auth);
#if TETRAPAK_EXAMPLE_PROMETHEUS
    tetrapak::prometheus_metrics exported(registry, {{"service", "orders"}});
    auth.set_metrics(exported.hook());
#endif

    const auto loopback = asio::ip::make_address("127.0.0.1");
    tcp::acceptor down_acceptor(ctx, {loopback, 0});
    tcp::acceptor front_acceptor(ctx, {loopback, static_cast<unsigned short>(argc > 3 ? std::atoi(argv[3]) : 0)});
    const auto down_port = down_acceptor.local_endpoint().port();
    auto no_auth = *cfg;
    no_auth.grant = tetrapak::grant_type::none;
    app a{ctx, auth, client, std::make_shared<const tetrapak::auth_config>(*cfg),
          std::make_shared<const tetrapak::auth_config>(no_auth), "https://127.0.0.1:" + std::to_string(down_port)};
#if TETRAPAK_EXAMPLE_PROMETHEUS
    a.registry = &registry;
#endif
    downstream_state down_state;

    asio::co_spawn(ctx, listen(down_acceptor, server_tls, [&](tls_stream s) { return downstream_session(std::move(s), down_state); }),
                   asio::detached);
    asio::co_spawn(ctx, listen(front_acceptor, server_tls, [&](tls_stream s) { return frontend_session(std::move(s), a); }),
                   asio::detached);
    asio::signal_set signals(ctx, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int) { ctx.stop(); });

    std::cout << "LISTENING " << front_acceptor.local_endpoint().port() << " DOWNSTREAM " << down_port << std::endl;
    std::cerr << "grant for Orders: " << cfg->grant << " (automatic: token exchange for users, client credentials for system callers)"
              << std::endl;
    ctx.run();
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "beast_microservice: " << e.what() << '\n';
        return 1;
    }
}
