// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_TEST_FLEET_INSTANCE_HPP
#define TETRAPAK_TEST_FLEET_INSTANCE_HPP

// One "instance" of a service in a fleet test: its own io_context on its own
// thread and its own authorization_service, as a replica would have. Calls
// come from the test's thread and are waited for with a bound.

#include "oidc_server.hpp"
#include "redis_server.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#ifdef BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>
#endif

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

namespace tetrapak::test {

/// Envelope keys for tests (32 bytes each, base64).
inline constexpr const char* fleet_key_1 = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
inline constexpr const char* fleet_key_2 = "k2:ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";
inline constexpr const char* fleet_key_3 = "k3:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU=";

/// basic-client with the shared store on `redis`. The Redis timeouts are
/// generous: sanitizer builds on a loaded two-core machine are slow, and
/// these tests are about coordination (the timeout tests set their own).
inline auth_config fleet_client(const oidc_server& server, const redis_server& redis,
                                std::string keys = fleet_key_1)
{
    auto c = basic_client(server);
    c.fleet.redis_url = redis.url();
    c.fleet.keys = std::move(keys);
    c.fleet.connect_timeout = std::chrono::milliseconds(2000);
    c.fleet.command_timeout = std::chrono::milliseconds(2000);
    return c;
}

struct instance_result {
    boost::system::error_code ec;
    actor_token token;
    diagnostics diag;
    std::chrono::steady_clock::duration elapsed{};
};

class fleet_instance {
public:
    explicit fleet_instance(const auth_config& cfg)
        : guard_(boost::asio::make_work_guard(ctx_)), auth_(ctx_.get_executor(), cfg), runner_([this] { ctx_.run(); })
    {
    }
    ~fleet_instance()
    {
        guard_.reset();
        ctx_.stop();
        runner_.join();
#ifdef BOOST_TEST_DYN_LINK // the test executables (the benchmarks use this class without Boost.Test)
        BOOST_TEST(repeated_ == 0, repeated_ << " completion handler(s) of this instance ran more than once");
#else
        if (repeated_ != 0)
            std::cerr << "fleet_instance: " << repeated_ << " completion handler(s) ran more than once\n";
#endif
    }
    fleet_instance(const fleet_instance&) = delete;
    fleet_instance& operator=(const fleet_instance&) = delete;

    authorization_service& auth() noexcept { return auth_; }

    /// One call, waited for (at most 30 s; a hang fails the test).
    instance_result authorize(http_client_options o = {})
    {
        auto r = std::make_shared<instance_result>();
        auto done = std::make_shared<std::promise<void>>();
        auto f = done->get_future();
        const auto t0 = std::chrono::steady_clock::now();
        auth_.async_authorize(o, r->diag, [this, r, done, t0, ran = false](boost::system::error_code ec,
                                                                          actor_token t) mutable {
            if (std::exchange(ran, true)) { // a second completion: counted, never a second set_value
                ++repeated_;
                return;
            }
            r->ec = ec;
            r->token = std::move(t);
            r->elapsed = std::chrono::steady_clock::now() - t0;
            done->set_value();
        });
        if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
            r->ec = boost::asio::error::timed_out;
            return *r;
        }
        return *r;
    }

    /// One call whose caller leaves (terminal cancellation) after `after`.
    instance_result authorize_cancelled_after(std::chrono::milliseconds after)
    {
        auto r = std::make_shared<instance_result>();
        auto done = std::make_shared<std::promise<void>>();
        auto f = done->get_future();
        auto signal = std::make_shared<boost::asio::cancellation_signal>();
        auto timer = std::make_shared<boost::asio::steady_timer>(ctx_, after);
        const auto t0 = std::chrono::steady_clock::now();
        // Started and cancelled on the context's thread: a signal is not thread-safe.
        boost::asio::post(ctx_, [this, r, done, signal, timer, t0] {
            auth_.async_authorize({}, r->diag,
                                  boost::asio::bind_cancellation_slot(
                                      signal->slot(), [this, r, done, t0, ran = false](boost::system::error_code ec,
                                                                                    actor_token t) mutable {
                                          if (std::exchange(ran, true)) {
                                              ++repeated_;
                                              return;
                                          }
                                          r->ec = ec;
                                          r->token = std::move(t);
                                          r->elapsed = std::chrono::steady_clock::now() - t0;
                                          done->set_value();
                                      }));
            // The handler keeps the timer: a timer destroyed while waiting
            // completes its wait at once, and the caller would leave at once.
            timer->async_wait([signal, timer](boost::system::error_code) {
                signal->emit(boost::asio::cancellation_type::terminal);
            });
        });
        if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready)
            r->ec = boost::asio::error::timed_out;
        return *r;
    }

    std::uint64_t stat(metric m) const { return auth_.stats()[m]; }

private:
    boost::asio::io_context ctx_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
    authorization_service auth_;
    std::atomic<int> repeated_{0}; ///< handlers completed more than once (a library bug)
    std::thread runner_;
};

/// Waits up to `bound` for `pred`, polling every 10 ms.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds bound = std::chrono::milliseconds(3000))
{
    const auto end = std::chrono::steady_clock::now() + bound;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

} // namespace tetrapak::test

#endif
