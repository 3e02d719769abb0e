// Contender "tetrapak" of the side-by-side benchmarks (bench/compare/compare.py):
// sequential client-credentials fetches with tetrapak-asio, every one a real
// request (force_authorization), on one thread.
//
//   tetrapak_loop --url URL --ca FILE --id ID --secret S --n N [--warmup W]
//                 [--fresh] [--no-resume] [--proxy URL]
//
// --fresh      a new connection per request (connections.max_idle_per_endpoint = 0)
// --no-resume  no TLS session resumption (connections.tls_session_resumption = false)
// --proxy URL  through this HTTP proxy (proxy.url; a CONNECT tunnel per connection)
//
// After W warm-up fetches, times N fetches (wall clock and getrusage(RUSAGE_SELF))
// and prints one JSON line: client, n, ok, wall_s, user_s, sys_s and the
// service's connection counters for the timed part.
#include <tetrapak.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include <sys/resource.h>

namespace asio = boost::asio;

namespace {

double seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; }

struct run_result {
    long ok = 0;
    std::string first_error;
};

asio::awaitable<void> fetch_loop(tetrapak::authorization_service& auth, long n, run_result& r)
{
    tetrapak::http_client_options options;
    options.force_authorization = true; // a real request every time, the cache never answers
    for (long i = 0; i < n; ++i) {
        tetrapak::diagnostics diag;
        auto [ec, token] = co_await auth.async_authorize(options, diag, asio::as_tuple(asio::use_awaitable));
        if (!ec && !token.value().empty())
            ++r.ok;
        else if (r.first_error.empty())
            r.first_error = ec.message() + " " + std::string(diag.error_description());
    }
}

} // namespace

int main(int argc, char** argv)
{
    std::string url, ca, id, secret, proxy;
    long n = 100, warmup = 20;
    bool fresh = false, resume = true;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::cerr << "tetrapak_loop: " << a << " needs a value\n";
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--url") url = next();
        else if (a == "--ca") ca = next();
        else if (a == "--id") id = next();
        else if (a == "--secret") secret = next();
        else if (a == "--n") n = std::atol(next().c_str());
        else if (a == "--warmup") warmup = std::atol(next().c_str());
        else if (a == "--fresh") fresh = true;
        else if (a == "--no-resume") resume = false;
        else if (a == "--proxy") proxy = next();
        else {
            std::cerr << "tetrapak_loop: unknown argument " << a << '\n';
            return 2;
        }
    }
    if (url.empty() || ca.empty() || id.empty() || n <= 0) {
        std::cerr << "usage: tetrapak_loop --url URL --ca FILE --id ID --secret S --n N [--warmup W] [--fresh] [--no-resume] [--proxy URL]\n";
        return 2;
    }

    tetrapak::auth_config cfg;
    cfg.grant = tetrapak::grant_type::client_credentials;
    cfg.auth_method = tetrapak::client_auth_method::client_secret_basic;
    cfg.client_id = id;
    cfg.client_secret = secret;
    cfg.token_endpoint = url;
    cfg.tls.ca_file = ca;
    cfg.retry.max_attempts = 1; // a failure shows as one, never hidden by a retry
    cfg.connections.max_idle_per_endpoint = fresh ? 0 : 4;
    cfg.connections.tls_session_resumption = resume;
    cfg.proxy.url = proxy.empty() ? "none" : proxy;

    asio::io_context ctx(1);
    tetrapak::authorization_service auth(ctx.get_executor(), cfg);

    run_result warm;
    asio::co_spawn(ctx, fetch_loop(auth, warmup, warm), asio::detached);
    ctx.run();
    ctx.restart();
    const auto before = auth.stats();

    run_result timed;
    rusage ru0{}, ru1{};
    getrusage(RUSAGE_SELF, &ru0);
    const auto t0 = std::chrono::steady_clock::now();
    asio::co_spawn(ctx, fetch_loop(auth, n, timed), asio::detached);
    ctx.run();
    const auto t1 = std::chrono::steady_clock::now();
    getrusage(RUSAGE_SELF, &ru1);
    const auto after = auth.stats();

    using tetrapak::metric;
    auto delta = [&](metric m) { return static_cast<unsigned long long>(after[m] - before[m]); };
    std::printf("{\"client\":\"tetrapak\",\"n\":%ld,\"ok\":%ld,\"wall_s\":%.6f,\"user_s\":%.6f,\"sys_s\":%.6f,"
                "\"connections_opened\":%llu,\"connections_reused\":%llu,\"tls_resumed\":%llu,\"warmup_ok\":%ld}\n",
                n, timed.ok, std::chrono::duration<double>(t1 - t0).count(),
                seconds(ru1.ru_utime) - seconds(ru0.ru_utime), seconds(ru1.ru_stime) - seconds(ru0.ru_stime),
                delta(metric::connection_opened), delta(metric::connection_reused), delta(metric::tls_resumed),
                warm.ok);
    if (!timed.first_error.empty() || !warm.first_error.empty())
        std::fprintf(stderr, "tetrapak_loop: first error: %s\n",
                     (timed.first_error.empty() ? warm.first_error : timed.first_error).c_str());
    return timed.ok == n && warm.ok == warmup ? 0 : 1;
}
