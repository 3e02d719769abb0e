// Benchmark 8 of bench/compare/compare.py: a burst of concurrent token
// exchanges for distinct keys (one audience each), as after a restart with
// many users to exchange, on one service and one thread.
//
//   burst_loop --url URL --ca FILE --id ID --secret S --subject JWT --n N --bound B
//
// --bound B  connections.max_per_endpoint (0: no bound, as before issue 13)
//
// Run it under the file limit to test (compare.py sets RLIMIT_NOFILE). Prints
// one JSON line: n, ok, the failures by message, the time to the last
// completion, and the service's connection and wait counters.
#include <tetrapak.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

namespace asio = boost::asio;

int main(int argc, char** argv)
{
    std::string url, ca, id, secret, subject;
    long n = 1000, bound = 32;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i], v = argv[i + 1];
        if (a == "--url") url = v;
        else if (a == "--ca") ca = v;
        else if (a == "--id") id = v;
        else if (a == "--secret") secret = v;
        else if (a == "--subject") subject = v;
        else if (a == "--n") n = std::atol(v.c_str());
        else if (a == "--bound") bound = std::atol(v.c_str());
        else {
            std::cerr << "burst_loop: unknown argument " << a << '\n';
            return 2;
        }
    }
    if (url.empty() || ca.empty() || subject.empty() || n <= 0 || bound < 0) {
        std::cerr << "usage: burst_loop --url URL --ca FILE --id ID --secret S --subject JWT --n N --bound B\n";
        return 2;
    }
    tetrapak::auth_config base;
    base.grant = tetrapak::grant_type::token_exchange;
    base.client_id = id;
    base.client_secret = secret;
    base.token_endpoint = url;
    base.tls.ca_file = ca;
    base.proxy.url = "none";
    base.connections.max_per_endpoint = static_cast<std::size_t>(bound);
    base.connections.max_idle_per_endpoint = bound ? static_cast<std::size_t>(bound) : 4;
    base.timeouts.connection_wait = std::chrono::seconds(120);

    asio::io_context ctx(1);
    tetrapak::authorization_service auth(ctx.get_executor(), base);
    const tetrapak::actor_token caller(subject);
    long ok = 0;
    std::map<std::string, long> failures;
    std::chrono::steady_clock::duration last{};
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < n; ++i) {
        auto cfg = std::make_shared<tetrapak::auth_config>(base);
        cfg->audience = "urn:tetrapak:burst-" + std::to_string(i);
        tetrapak::http_client_options o;
        o.auth_config = std::move(cfg);
        o.actor_token = caller;
        auth.async_authorize(o, [&](boost::system::error_code ec, tetrapak::actor_token) {
            if (ec)
                ++failures[ec.message()];
            else
                ++ok;
            last = std::chrono::steady_clock::now() - t0;
        });
    }
    ctx.run();

    using tetrapak::metric;
    const auto s = auth.stats();
    boost::json::object fails;
    for (auto& [m, c] : failures)
        fails[m] = c;
    boost::json::object out{{"client", "tetrapak-burst"},
                            {"n", n},
                            {"bound", bound},
                            {"ok", ok},
                            {"failures", fails},
                            {"last_s", std::chrono::duration<double>(last).count()},
                            {"connections_opened", s[metric::connection_opened]},
                            {"connection_waits", s[metric::connection_wait]},
                            {"retries", s[metric::retry]}};
    std::cout << boost::json::serialize(out) << '\n';
    return 0;
}
