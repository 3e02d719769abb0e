// Fetches a client-credentials token from ordinary blocking code: the
// io_context runs on a background thread and main() waits on std::futures.
// A second request shows the answer coming from the token cache.
//
//   future_style TOKEN_URL CLIENT_ID CLIENT_SECRET|- CA_FILE
//
// Pass "-" as CLIENT_SECRET to read it from the TETRAPAK_CLIENT_SECRET
// environment variable. Exits 0 on success, 1 on failure, 2 on bad usage.
#include <tetrapak.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>

#include <cstdlib>
#include <future>
#include <iostream>
#include <string>
#include <thread>

namespace asio = boost::asio;

// Both requests, from a thread that is not running the io_context.
int fetch_twice(tetrapak::authorization_service& auth)
{
    // Filled in when a call fails (passed by reference: must outlive the operation).
    tetrapak::diagnostics diag;
    try {
        // async_authorize may be called from any thread. With use_future it
        // returns std::future<actor_token>; get() blocks and throws
        // boost::system::system_error on failure.
        std::future<tetrapak::actor_token> f1 = auth.async_authorize({}, diag, asio::use_future);
        tetrapak::actor_token first = f1.get();
        std::cout << "first request: got " << first << " (from the token endpoint)\n";

        tetrapak::actor_token again = auth.async_authorize({}, diag, asio::use_future).get();
        auto stats = auth.stats();
        bool cached = again == first && stats[tetrapak::metric::cache_hit] == 1;
        std::cout << "second request: got " << again << '\n'
                  << "  same token: " << (again == first ? "yes" : "no")
                  << ", cache_hit=" << stats[tetrapak::metric::cache_hit]
                  << ", cache_miss=" << stats[tetrapak::metric::cache_miss] << '\n'
                  << (cached ? "served from the cache\n" : "NOT served from the cache\n");
        return cached ? 0 : 1;
    } catch (const boost::system::system_error& e) {
        // (With tetrapak::with_diagnostics(asio::use_future) instead, get() throws a
        // tetrapak::error_with_diagnostics that carries the diagnostics itself.)
        std::cout << "request failed: " << tetrapak::failure{e.code(), diag} << '\n';
        return 1;
    }
}

int main(int argc, char** argv)
{
    if (argc != 5) {
        std::cerr << "usage: " << argv[0] << " TOKEN_URL CLIENT_ID CLIENT_SECRET|- CA_FILE\n";
        return 2;
    }
    tetrapak::auth_config cfg;
    cfg.token_endpoint = argv[1];
    cfg.client_id = argv[2];
    const char* env_secret = std::getenv("TETRAPAK_CLIENT_SECRET");
    cfg.client_secret = std::string(argv[3]) == "-" && env_secret ? env_secret : argv[3];
    cfg.tls.ca_file = argv[4];

    asio::io_context ctx;
    try {
        tetrapak::authorization_service auth(ctx.get_executor(), cfg);

        // The io_context runs on its own thread; the work guard keeps run()
        // from returning while nothing is queued yet.
        auto work = asio::make_work_guard(ctx);
        std::thread io_thread([&ctx] { ctx.run(); });

        int status = fetch_twice(auth);

        work.reset();     // let run() return once the io_context is idle...
        io_thread.join(); // ...and wait for it before auth and ctx are destroyed
        return status;
    } catch (const tetrapak::error_with_diagnostics& e) {
        // The constructor refuses unusable TLS settings, e.g. a CA_FILE that is not PEM.
        std::cout << "cannot start: " << tetrapak::failure{e.code(), e.get_diagnostics()} << '\n';
        return 1;
    }
}
