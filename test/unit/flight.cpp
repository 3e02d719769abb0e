// The single-flight layer (lib/flight) without sockets: waiters joining shared
// work, their completion (exactly once, never inline, on the handler's
// executor) and the per-waiter cancellation contract. The io_contexts are
// driven step by step (poll_one, poll, emit; run only where threads run them);
// nothing sleeps.
#include "flight/flight.hpp"

#include <tetrapak/diagnostics.hpp>

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace td = tetrapak::detail;
using boost::system::error_code;
using ct = boost::asio::cancellation_type;
using tetrapak::diagnostics;
using tetrapak::detail::diagnostics_access;

const error_code aborted = asio::error::operation_aborted;
const error_code server_error = asio::error::connection_refused; // any error but operation_aborted

/// Every type a waiter's cancellation must honour, singly and together.
constexpr ct cancel_types[] = {ct::terminal, ct::partial, ct::total, ct::all};

/// Shared work that does nothing: the test says when it finishes.
template <class T>
class test_flight final : public td::flight<T> {
public:
    explicit test_flight(asio::any_io_executor ex, bool detached = false)
        : td::flight<T>(std::move(ex), detached)
    {
    }

    void complete(error_code ec, const diagnostics& d, const T& v) { this->finish(ec, d, v); }
    void complete(const T& v) { this->finish({}, diagnostics{}, v); }
    const asio::any_io_executor& executor() const { return this->ex_; }
    int stops() const { return stops_.load(); }

protected:
    void stop_work() override { ++stops_; }

private:
    std::atomic<int> stops_{0};
};

template <class T>
std::shared_ptr<test_flight<T>> make_flight(asio::io_context& ctx, bool detached = false)
{
    return std::make_shared<test_flight<T>>(ctx.get_executor(), detached);
}

/// What a handler saw.
template <class T>
struct outcome {
    int calls = 0;
    error_code ec;
    T value{};
    std::thread::id thread;
};

template <class T>
auto recorder(outcome<T>& o)
{
    return [&o](error_code ec, T v) {
        ++o.calls;
        o.ec = ec;
        o.value = std::move(v);
        o.thread = std::this_thread::get_id();
    };
}

/// Makes a waiter from any completion token, as an async operation's
/// initiation does; returns what the token returns (a future for use_future).
template <class T, class Token>
auto make_waiter(Token&& token, std::shared_ptr<td::waiter<T>>& out, const asio::any_io_executor& fallback,
                 diagnostics* diag = nullptr)
{
    return asio::async_initiate<Token, void(error_code, T)>(
        [&out, &fallback, diag](auto handler) {
            out = std::make_shared<td::waiter<T>>(td::handler_of<T>(std::move(handler)), diag, fallback);
        },
        token);
}

/// A waiter that joined `f` (its fallback executor is `fallback`).
template <class T, class Token>
std::shared_ptr<td::waiter<T>> join_with(test_flight<T>& f, const asio::any_io_executor& fallback, Token&& token,
                                         diagnostics* diag = nullptr)
{
    std::shared_ptr<td::waiter<T>> w;
    make_waiter<T>(std::forward<Token>(token), w, fallback, diag);
    BOOST_TEST_REQUIRE(f.add_waiter(w));
    return w;
}

/// A waiter that joined `f` (its fallback executor is the flight's).
template <class T, class Token>
std::shared_ptr<td::waiter<T>> join(test_flight<T>& f, Token&& token, diagnostics* diag = nullptr)
{
    return join_with<T>(f, f.executor(), std::forward<Token>(token), diag);
}

diagnostics server_diag()
{
    diagnostics d;
    diagnostics_access::error(d) = "invalid_client";
    diagnostics_access::error_description(d) = "unknown client";
    diagnostics_access::http_status(d) = 401;
    return d;
}

diagnostics stale_diag()
{
    diagnostics d;
    diagnostics_access::client_message(d) = "left over from an earlier call";
    return d;
}

/// The slot a waiter listens on. any_completion_handler keeps a
/// cancellation_state in the caller's signal (it stays there after the
/// operation, as with any Asio operation that uses one), and the waiter's slot
/// is the one inside it; the flight's handler is installed there.
template <class T>
asio::cancellation_slot inner_slot(const std::shared_ptr<td::waiter<T>>& w)
{
    return w->slot;
}

/// Runs what is ready on `ctx`, and what that makes ready, without blocking:
/// a waiter wrongly left waiting fails the test instead of hanging it.
std::size_t run_ready(asio::io_context& ctx)
{
    ctx.restart();
    return ctx.poll();
}

/// No work is left on `ctx` (nothing queued, no tracked executor alive).
void check_no_work_left(asio::io_context& ctx)
{
    ctx.restart();
    BOOST_TEST(ctx.poll() == 0u);
    BOOST_TEST(ctx.stopped()); // poll stops a context only when its work count is zero
}

} // namespace

BOOST_AUTO_TEST_SUITE(flight)

// ---------------------------------------------------------------------------
// Results

BOOST_AUTO_TEST_CASE(one_waiter_gets_the_result)
{
    asio::io_context ctx;
    auto f = make_flight<std::string>(ctx);
    BOOST_TEST(f->waiter_count() == 0u);
    BOOST_TEST(!f->closed());

    outcome<std::string> o;
    join<std::string>(*f, recorder(o));
    BOOST_TEST(f->waiter_count() == 1u);
    BOOST_TEST(!f->closed());
    BOOST_TEST(o.calls == 0);

    f->complete("token-1");
    BOOST_TEST(f->waiter_count() == 0u);
    BOOST_TEST(f->closed());
    BOOST_TEST(o.calls == 0); // never inside finish

    BOOST_TEST(ctx.poll_one() == 1u);
    BOOST_TEST(o.calls == 1);
    BOOST_TEST(o.ec == error_code());
    BOOST_TEST(o.value == "token-1");
    BOOST_TEST(o.thread == std::this_thread::get_id());

    BOOST_TEST(run_ready(ctx) == 0u);
    BOOST_TEST(o.calls == 1);
    check_no_work_left(ctx);
}

BOOST_AUTO_TEST_CASE(many_waiters_get_the_same_result_once_each)
{
    asio::io_context ctx;
    auto f = make_flight<int>(ctx);
    std::vector<outcome<int>> os(5);
    std::vector<std::weak_ptr<td::waiter<int>>> ws(os.size());
    std::vector<int> released_before_call(os.size(), -1);
    for (std::size_t i = 0; i < os.size(); ++i) {
        ws[i] = join<int>(*f, [&, i](error_code ec, int v) {
            released_before_call[i] = ws[i].expired(); // the waiter is freed before its handler runs
            recorder(os[i])(ec, v);
        });
        BOOST_TEST(f->waiter_count() == i + 1);
    }
    f->complete(42);
    BOOST_TEST(f->waiter_count() == 0u);
    BOOST_TEST(f->closed());
    for (auto& o : os)
        BOOST_TEST(o.calls == 0);

    // One queued operation completes the whole batch (handlers on the same
    // executor run at once inside it).
    BOOST_TEST(run_ready(ctx) == 1u);
    for (std::size_t i = 0; i < os.size(); ++i) {
        BOOST_TEST(os[i].calls == 1);
        BOOST_TEST(os[i].ec == error_code());
        BOOST_TEST(os[i].value == 42);
        BOOST_TEST(released_before_call[i] == 1);
    }
    // A second finish (the work ending twice) completes nobody again.
    f->complete(43);
    BOOST_TEST(run_ready(ctx) == 0u);
    for (auto& o : os)
        BOOST_TEST(o.calls == 1);
    check_no_work_left(ctx);
}

BOOST_AUTO_TEST_CASE(error_fills_diagnostics_and_empties_the_value)
{
    asio::io_context ctx;
    auto f = make_flight<std::string>(ctx);
    outcome<std::string> a, b;
    diagnostics da = stale_diag();
    join<std::string>(*f, recorder(a), &da);
    join<std::string>(*f, recorder(b)); // no diagnostics wanted

    // A value passed with an error is not handed out.
    f->complete(server_error, server_diag(), "must-not-leak");
    BOOST_TEST((da == stale_diag())); // written on the handler's executor, not inside finish

    run_ready(ctx);
    BOOST_TEST(a.calls == 1);
    BOOST_TEST(a.ec == server_error);
    BOOST_TEST(a.value == "");
    BOOST_TEST((da == server_diag()));
    BOOST_TEST(da.error() == "invalid_client");
    BOOST_TEST(da.http_status() == 401u);
    BOOST_TEST(b.calls == 1);
    BOOST_TEST(b.ec == server_error);
    BOOST_TEST(b.value == "");
    check_no_work_left(ctx);
}

BOOST_AUTO_TEST_CASE(success_clears_diagnostics)
{
    asio::io_context ctx;
    auto f = make_flight<int>(ctx);
    outcome<int> o;
    diagnostics d = stale_diag();
    join<int>(*f, recorder(o), &d);
    f->complete(7);
    BOOST_TEST(!d.empty());
    run_ready(ctx);
    BOOST_TEST(o.calls == 1);
    BOOST_TEST(o.value == 7);
    BOOST_TEST(d.empty());
}

BOOST_AUTO_TEST_CASE(nothing_completes_inside_the_calls_even_on_the_running_context)
{
    // Called from inside the io_context the handlers belong to: an inline
    // completion (dispatch instead of post) would show here.
    asio::io_context ctx;
    auto f = make_flight<std::string>(ctx);
    outcome<std::string> joined, cancelled, known;
    asio::cancellation_signal sig, sig_known;
    int after_add = -1, after_emit = -1, after_finish = -1, after_complete_waiter = -1;
    asio::post(ctx, [&] {
        join<std::string>(*f, recorder(joined));
        join<std::string>(*f, asio::bind_cancellation_slot(sig.slot(), recorder(cancelled)));
        after_add = joined.calls + cancelled.calls;
        sig.emit(ct::terminal);
        after_emit = cancelled.calls;
        f->complete("token-1");
        after_finish = joined.calls;

        std::shared_ptr<td::waiter<std::string>> w;
        make_waiter<std::string>(asio::bind_cancellation_slot(sig_known.slot(), recorder(known)), w,
                                 ctx.get_executor());
        td::watch_cancellation(w);
        td::complete_waiter<std::string>(w, ctx.get_executor(), {}, {}, "cached");
        after_complete_waiter = known.calls;
    });
    run_ready(ctx);
    BOOST_TEST(after_add == 0);
    BOOST_TEST(after_emit == 0);
    BOOST_TEST(after_finish == 0);
    BOOST_TEST(after_complete_waiter == 0);
    BOOST_TEST(joined.calls == 1);
    BOOST_TEST(joined.value == "token-1");
    BOOST_TEST(cancelled.calls == 1);
    BOOST_TEST(cancelled.ec == aborted);
    BOOST_TEST(known.calls == 1);
    BOOST_TEST(known.value == "cached");
    check_no_work_left(ctx);
}

BOOST_AUTO_TEST_CASE(waiter_count_and_closed_through_a_lifetime)
{
    asio::io_context ctx;
    auto f = make_flight<int>(ctx);
    outcome<int> a, b, c, late;
    asio::cancellation_signal sig_a;
    BOOST_TEST(f->waiter_count() == 0u);
    BOOST_TEST(!f->closed());
    join<int>(*f, asio::bind_cancellation_slot(sig_a.slot(), recorder(a)));
    join<int>(*f, recorder(b));
    join<int>(*f, recorder(c));
    BOOST_TEST(f->waiter_count() == 3u);
    BOOST_TEST(!f->closed());

    sig_a.emit(ct::terminal); // leaves at once, not the last
    BOOST_TEST(f->waiter_count() == 2u);
    BOOST_TEST(!f->closed());
    BOOST_TEST(f->stops() == 0);

    BOOST_TEST(ctx.poll_one() == 1u); // a's completion
    BOOST_TEST(a.calls == 1);
    BOOST_TEST(a.ec == aborted);
    BOOST_TEST(f->waiter_count() == 2u);

    f->complete(9);
    BOOST_TEST(f->waiter_count() == 0u);
    BOOST_TEST(f->closed());

    // Closed: a newcomer is turned away and its cancellation slot left alone.
    asio::cancellation_signal sig_late;
    std::shared_ptr<td::waiter<int>> w;
    make_waiter<int>(asio::bind_cancellation_slot(sig_late.slot(), recorder(late)), w, ctx.get_executor());
    BOOST_TEST(!f->add_waiter(w));
    BOOST_TEST(!w->slot.is_connected()); // add_waiter installed nothing
    BOOST_TEST(f->waiter_count() == 0u);
    w.reset(); // the caller starts new work instead; this waiter is dropped

    run_ready(ctx);
    BOOST_TEST(b.calls == 1);
    BOOST_TEST(c.calls == 1);
    BOOST_TEST(b.value == 9);
    BOOST_TEST(c.value == 9);
    BOOST_TEST(a.calls == 1);
    BOOST_TEST(late.calls == 0);
    BOOST_TEST(f->stops() == 0);
    BOOST_TEST(f->closed());
    check_no_work_left(ctx);
}

// ---------------------------------------------------------------------------
// Cancellation of one waiter

BOOST_AUTO_TEST_CASE(cancel_before_finish_leaves_alone)
{
    for (ct type : cancel_types) {
        BOOST_TEST_CONTEXT("cancellation type " << static_cast<int>(type))
        {
            asio::io_context ctx;
            auto f = make_flight<std::string>(ctx);
            outcome<std::string> a, b;
            diagnostics da = stale_diag();
            asio::cancellation_signal sig;
            const auto slot_a =
                inner_slot(join<std::string>(*f, asio::bind_cancellation_slot(sig.slot(), recorder(a)), &da));
            join<std::string>(*f, recorder(b));
            BOOST_TEST(slot_a.has_handler());

            sig.emit(type);
            BOOST_TEST(a.calls == 0); // not inside emit
            BOOST_TEST(f->waiter_count() == 1u);
            BOOST_TEST(!f->closed());
            BOOST_TEST(f->stops() == 0); // b still waits: the work goes on

            BOOST_TEST(ctx.poll_one() == 1u);
            BOOST_TEST(a.calls == 1);
            BOOST_TEST(a.ec == aborted);
            BOOST_TEST(a.value == "");
            BOOST_TEST(da.empty());
            BOOST_TEST(b.calls == 0);
            BOOST_TEST(!slot_a.has_handler()); // the flight's handler is released at completion

            sig.emit(type); // again: nothing
            f->complete("token-1");
            run_ready(ctx);
            BOOST_TEST(a.calls == 1);
            BOOST_TEST(b.calls == 1);
            BOOST_TEST(b.ec == error_code());
            BOOST_TEST(b.value == "token-1");
            BOOST_TEST(f->stops() == 0);
            check_no_work_left(ctx);
        }
    }
}

BOOST_AUTO_TEST_CASE(cancel_after_finish_before_the_completion_ran_wins)
{
    for (ct type : cancel_types) {
        BOOST_TEST_CONTEXT("cancellation type " << static_cast<int>(type))
        {
            asio::io_context ctx;
            auto f = make_flight<std::string>(ctx);
            outcome<std::string> a, b;
            diagnostics da = stale_diag();
            asio::cancellation_signal sig;
            const auto slot_a =
                inner_slot(join<std::string>(*f, asio::bind_cancellation_slot(sig.slot(), recorder(a)), &da));
            join<std::string>(*f, recorder(b));

            f->complete("token-1"); // result known, completion queued
            sig.emit(type);
            BOOST_TEST(f->waiter_count() == 0u);
            BOOST_TEST(f->closed());
            BOOST_TEST(f->stops() == 0);
            BOOST_TEST(a.calls == 0);

            run_ready(ctx);
            BOOST_TEST(a.calls == 1);
            BOOST_TEST(a.ec == aborted);
            BOOST_TEST(a.value == ""); // the known value is not handed out
            BOOST_TEST(da.empty());
            BOOST_TEST(b.calls == 1); // the other waiter is untouched
            BOOST_TEST(b.ec == error_code());
            BOOST_TEST(b.value == "token-1");
            BOOST_TEST(!slot_a.has_handler());
            check_no_work_left(ctx);
        }
    }
}

BOOST_AUTO_TEST_CASE(cancel_after_an_error_before_the_completion_ran_drops_the_diagnostics)
{
    for (ct type : cancel_types) {
        BOOST_TEST_CONTEXT("cancellation type " << static_cast<int>(type))
        {
            asio::io_context ctx;
            auto f = make_flight<std::string>(ctx);
            outcome<std::string> a, b;
            diagnostics da = stale_diag(), db;
            asio::cancellation_signal sig;
            join<std::string>(*f, asio::bind_cancellation_slot(sig.slot(), recorder(a)), &da);
            join<std::string>(*f, recorder(b), &db);

            f->complete(server_error, server_diag(), "");
            sig.emit(type);
            run_ready(ctx);
            BOOST_TEST(a.calls == 1);
            BOOST_TEST(a.ec == aborted); // not the server's error
            BOOST_TEST(da.empty());     // neither the server's text nor the stale one
            BOOST_TEST(b.calls == 1);
            BOOST_TEST(b.ec == server_error);
            BOOST_TEST((db == server_diag()));
        }
    }
}

BOOST_AUTO_TEST_CASE(cancel_after_the_handler_ran_has_no_effect)
{
    for (ct type : cancel_types) {
        BOOST_TEST_CONTEXT("cancellation type " << static_cast<int>(type))
        {
            asio::io_context ctx;
            auto f = make_flight<int>(ctx);
            outcome<int> a;
            asio::cancellation_signal sig;
            auto sa = join<int>(*f, asio::bind_cancellation_slot(sig.slot(), recorder(a)));
            std::weak_ptr<td::waiter<int>> wa = sa;
            const auto slot_a = inner_slot(sa);
            sa.reset();
            BOOST_TEST(slot_a.has_handler());
            f->complete(5);
            run_ready(ctx);
            BOOST_TEST(a.calls == 1);
            BOOST_TEST(!slot_a.has_handler());
            BOOST_TEST(wa.expired());

            sig.emit(type);
            BOOST_TEST(run_ready(ctx) == 0u);
            BOOST_TEST(a.calls == 1);
            BOOST_TEST(a.ec == error_code());
            BOOST_TEST(a.value == 5);
            BOOST_TEST(f->stops() == 0);
        }
    }
}

BOOST_AUTO_TEST_CASE(cancellation_type_none_is_ignored)
{
    asio::io_context ctx;
    auto f = make_flight<int>(ctx);
    outcome<int> a, b;
    asio::cancellation_signal sig_a, sig_b;
    join<int>(*f, asio::bind_cancellation_slot(sig_a.slot(), recorder(a)));
    join<int>(*f, asio::bind_cancellation_slot(sig_b.slot(), recorder(b)));

    sig_a.emit(ct::none); // before the result
    BOOST_TEST(f->waiter_count() == 2u);
    BOOST_TEST(ctx.poll() == 0u);

    f->complete(3);
    sig_b.emit(ct::none); // after the result, before the completion
    run_ready(ctx);
    BOOST_TEST(a.calls == 1);
    BOOST_TEST(a.ec == error_code());
    BOOST_TEST(a.value == 3);
    BOOST_TEST(b.calls == 1);
    BOOST_TEST(b.ec == error_code());
    BOOST_TEST(b.value == 3);
    BOOST_TEST(f->stops() == 0);

    // A lone waiter: `none` must not count as the last one leaving.
    auto g = make_flight<int>(ctx);
    outcome<int> c;
    asio::cancellation_signal sig_c;
    join<int>(*g, asio::bind_cancellation_slot(sig_c.slot(), recorder(c)));
    sig_c.emit(ct::none);
    BOOST_TEST(g->stops() == 0);
    BOOST_TEST(!g->closed());
    BOOST_TEST(g->waiter_count() == 1u);
    g->complete(4);
    run_ready(ctx);
    BOOST_TEST(c.calls == 1);
    BOOST_TEST(c.ec == error_code());
    BOOST_TEST(c.value == 4);
}

BOOST_AUTO_TEST_CASE(waiter_cancel_filters_types_and_acts_once)
{
    // The flight's slot handler itself: any_completion_handler already drops
    // `none` before it, so it is called directly here.
    asio::io_context ctx;
    auto f = make_flight<int>(ctx);
    outcome<int> o;
    auto w = join<int>(*f, recorder(o));
    td::waiter_cancel<int> cancel{w, f};
    cancel(ct::none);
    BOOST_TEST(!w->cancelled.load());
    BOOST_TEST(f->waiter_count() == 1u);
    BOOST_TEST(ctx.poll() == 0u);
    cancel(ct::partial);
    BOOST_TEST(w->cancelled.load());
    BOOST_TEST(f->waiter_count() == 0u);
    BOOST_TEST(f->stops() == 1);
    cancel(ct::terminal); // a second signal does nothing
    BOOST_TEST(f->stops() == 1);
    w.reset();
    BOOST_TEST(run_ready(ctx) == 1u);
    BOOST_TEST(o.calls == 1);
    BOOST_TEST(o.ec == aborted);
    cancel(ct::terminal); // waiter gone: nothing
    BOOST_TEST(o.calls == 1);
    check_no_work_left(ctx);
}

// ---------------------------------------------------------------------------
// The work: stopped only when the last waiter of an attached flight leaves

BOOST_AUTO_TEST_CASE(last_waiter_leaving_stops_the_work_once_and_closes)
{
    for (ct type : cancel_types) {
        BOOST_TEST_CONTEXT("cancellation type " << static_cast<int>(type))
        {
            asio::io_context ctx;
            auto f = make_flight<int>(ctx);
            std::vector<outcome<int>> os(3);
            std::vector<asio::cancellation_signal> sigs(3);
            for (std::size_t i = 0; i < os.size(); ++i)
                join<int>(*f, asio::bind_cancellation_slot(sigs[i].slot(), recorder(os[i])));

            sigs[0].emit(type);
            BOOST_TEST(f->stops() == 0);
            BOOST_TEST(f->waiter_count() == 2u);
            BOOST_TEST(!f->closed());
            sigs[1].emit(type);
            BOOST_TEST(f->stops() == 0);
            BOOST_TEST(f->waiter_count() == 1u);
            BOOST_TEST(!f->closed());
            sigs[2].emit(type);
            BOOST_TEST(f->stops() == 1); // synchronously, from the cancelling call
            BOOST_TEST(f->waiter_count() == 0u);
            BOOST_TEST(f->closed());

            // Nobody joins work that was told to stop.
            outcome<int> late;
            std::shared_ptr<td::waiter<int>> w;
            make_waiter<int>(recorder(late), w, ctx.get_executor());
            BOOST_TEST(!f->add_waiter(w));
            w.reset();

            for (auto& s : sigs)
                s.emit(type); // again: nothing
            BOOST_TEST(f->stops() == 1);

            f->complete(11); // the stopped work still ends with finish: completes nobody
            run_ready(ctx);
            for (auto& o : os) {
                BOOST_TEST(o.calls == 1);
                BOOST_TEST(o.ec == aborted);
                BOOST_TEST(o.value == 0);
            }
            BOOST_TEST(late.calls == 0);
            BOOST_TEST(f->stops() == 1);
            check_no_work_left(ctx);
        }
    }
}

BOOST_AUTO_TEST_CASE(detached_flight_never_stops_and_stays_open)
{
    for (ct type : cancel_types) {
        BOOST_TEST_CONTEXT("cancellation type " << static_cast<int>(type))
        {
            asio::io_context ctx;
            auto f = make_flight<int>(ctx, true);
            outcome<int> a, b, c;
            asio::cancellation_signal sig_a, sig_b;
            join<int>(*f, asio::bind_cancellation_slot(sig_a.slot(), recorder(a)));
            join<int>(*f, asio::bind_cancellation_slot(sig_b.slot(), recorder(b)));
            sig_a.emit(type);
            sig_b.emit(type);
            BOOST_TEST(f->stops() == 0);
            BOOST_TEST(f->waiter_count() == 0u);
            BOOST_TEST(!f->closed());

            run_ready(ctx);
            BOOST_TEST(a.calls == 1);
            BOOST_TEST(a.ec == aborted);
            BOOST_TEST(b.calls == 1);
            BOOST_TEST(b.ec == aborted);

            // Still open: a newcomer joins and gets the result.
            join<int>(*f, recorder(c));
            BOOST_TEST(f->waiter_count() == 1u);
            f->complete(21);
            BOOST_TEST(f->closed());
            run_ready(ctx);
            BOOST_TEST(c.calls == 1);
            BOOST_TEST(c.value == 21);
            BOOST_TEST(f->stops() == 0);
            check_no_work_left(ctx);
        }
    }
}

BOOST_AUTO_TEST_CASE(result_racing_a_cancellation_in_both_orders)
{
    for (ct type : cancel_types) {
        for (bool cancel_first : {true, false}) {
            for (bool alone : {true, false}) {
                BOOST_TEST_CONTEXT("type " << static_cast<int>(type) << " cancel_first " << cancel_first
                                           << " alone " << alone)
                {
                    asio::io_context ctx;
                    auto f = make_flight<std::string>(ctx);
                    outcome<std::string> a, other;
                    asio::cancellation_signal sig;
                    join<std::string>(*f, asio::bind_cancellation_slot(sig.slot(), recorder(a)));
                    if (!alone)
                        join<std::string>(*f, recorder(other));
                    if (cancel_first) {
                        sig.emit(type);
                        f->complete("token-1");
                    } else {
                        f->complete("token-1");
                        sig.emit(type);
                    }
                    BOOST_TEST(a.calls == 0);
                    run_ready(ctx);
                    BOOST_TEST(a.calls == 1);
                    BOOST_TEST(a.ec == aborted);
                    BOOST_TEST(a.value == "");
                    BOOST_TEST(f->stops() == (cancel_first && alone ? 1 : 0));
                    if (!alone) {
                        BOOST_TEST(other.calls == 1);
                        BOOST_TEST(other.value == "token-1");
                    }
                    check_no_work_left(ctx);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Executors

BOOST_AUTO_TEST_CASE(handler_bound_to_a_strand_runs_in_it)
{
    asio::io_context ctx;
    auto strand = asio::make_strand(ctx);
    auto f = make_flight<int>(ctx);
    outcome<int> o;
    bool in_strand = false;
    join<int>(*f, asio::bind_executor(strand, [&](error_code ec, int v) {
                  in_strand = strand.running_in_this_thread();
                  recorder(o)(ec, v);
              }));
    f->complete(1);
    BOOST_TEST(o.calls == 0);
    run_ready(ctx);
    BOOST_TEST(o.calls == 1);
    BOOST_TEST(o.value == 1);
    BOOST_TEST(in_strand);
    check_no_work_left(ctx);
}

BOOST_AUTO_TEST_CASE(handler_bound_to_a_strand_cancelled_before_run)
{
    for (ct type : cancel_types) {
        BOOST_TEST_CONTEXT("cancellation type " << static_cast<int>(type))
        {
            asio::io_context ctx;
            auto strand = asio::make_strand(ctx);
            auto f = make_flight<int>(ctx);
            outcome<int> o;
            bool in_strand = false;
            asio::cancellation_signal sig;
            auto handler = [&](error_code ec, int v) {
                in_strand = strand.running_in_this_thread();
                recorder(o)(ec, v);
            };
            join<int>(*f, asio::bind_executor(strand, asio::bind_cancellation_slot(sig.slot(), handler)));
            f->complete(1);
            sig.emit(type);
            run_ready(ctx);
            BOOST_TEST(o.calls == 1);
            BOOST_TEST(o.ec == aborted);
            BOOST_TEST(o.value == 0);
            BOOST_TEST(in_strand);
        }
    }
}

BOOST_AUTO_TEST_CASE(handler_bound_to_a_second_io_context_runs_there)
{
    asio::io_context ctx, ctx2;
    auto f = make_flight<std::string>(ctx);
    outcome<std::string> o;
    bool on_ctx2 = false;
    join<std::string>(*f, asio::bind_executor(ctx2, [&](error_code ec, std::string v) {
                          on_ctx2 = ctx2.get_executor().running_in_this_thread();
                          recorder(o)(ec, std::move(v));
                      }));
    // The waiter keeps ctx2 busy: poll stops a context only when it has no work.
    ctx2.poll();
    BOOST_TEST(!ctx2.stopped());

    f->complete("token-2");
    run_ready(ctx); // the hop on the flight's context hands it to ctx2
    BOOST_TEST(o.calls == 0);
    BOOST_TEST(run_ready(ctx2) == 1u);
    BOOST_TEST(o.calls == 1);
    BOOST_TEST(o.value == "token-2");
    BOOST_TEST(on_ctx2);
    BOOST_TEST(ctx2.stopped()); // ran out of work: the waiter let go of ctx2
    check_no_work_left(ctx2);
    check_no_work_left(ctx);
}

BOOST_AUTO_TEST_CASE(handler_bound_to_a_second_io_context_on_another_thread)
{
    asio::io_context ctx, ctx2;
    auto f = make_flight<std::string>(ctx);
    outcome<std::string> o;
    bool on_ctx2 = false;
    join<std::string>(*f, asio::bind_executor(ctx2, [&](error_code ec, std::string v) {
                          on_ctx2 = ctx2.get_executor().running_in_this_thread();
                          recorder(o)(ec, std::move(v));
                      }));
    // ctx2.run() must not return before the completion: the waiter tracks work on it.
    std::size_t ran2 = 0;
    std::thread t([&] { ran2 = ctx2.run(); });
    const auto t_id = t.get_id();
    f->complete("token-2");
    ctx.run();
    t.join();
    BOOST_TEST(ran2 >= 1u);
    BOOST_TEST(o.calls == 1);
    BOOST_TEST(o.value == "token-2");
    BOOST_TEST(on_ctx2);
    BOOST_TEST(o.thread == t_id);
    BOOST_TEST(o.thread != std::this_thread::get_id());
}

BOOST_AUTO_TEST_CASE(cancel_while_queued_on_the_handlers_io_context)
{
    for (ct type : cancel_types) {
        BOOST_TEST_CONTEXT("cancellation type " << static_cast<int>(type))
        {
            asio::io_context ctx, ctx2;
            auto f = make_flight<std::string>(ctx);
            outcome<std::string> o;
            diagnostics d = stale_diag();
            asio::cancellation_signal sig;
            join<std::string>(*f, asio::bind_executor(ctx2, asio::bind_cancellation_slot(sig.slot(), recorder(o))),
                              &d);
            f->complete("token-2");
            BOOST_TEST(run_ready(ctx) == 1u); // handed to ctx2: queued there
            BOOST_TEST(o.calls == 0);
            sig.emit(type);
            BOOST_TEST(ctx.poll() == 0u); // nothing new on the flight's context
            run_ready(ctx2);
            BOOST_TEST(o.calls == 1);
            BOOST_TEST(o.ec == aborted);
            BOOST_TEST(o.value == "");
            BOOST_TEST(d.empty());
            check_no_work_left(ctx2);
        }
    }
}

BOOST_AUTO_TEST_CASE(plain_handler_runs_on_the_fallback_executor)
{
    // The flight's executor (ctx) runs the hop; the waiter's fallback (ctx_b)
    // runs a handler that has no executor of its own.
    asio::io_context ctx, ctx_b;
    auto f = make_flight<int>(ctx);
    outcome<int> o;
    bool on_b = false;
    join_with<int>(*f, ctx_b.get_executor(), [&](error_code ec, int v) {
        on_b = ctx_b.get_executor().running_in_this_thread();
        recorder(o)(ec, v);
    });
    ctx_b.poll();
    BOOST_TEST(!ctx_b.stopped()); // work is tracked on the fallback
    f->complete(8);
    run_ready(ctx);
    BOOST_TEST(o.calls == 0);
    BOOST_TEST(run_ready(ctx_b) == 1u);
    BOOST_TEST(o.calls == 1);
    BOOST_TEST(o.value == 8);
    BOOST_TEST(on_b);
    check_no_work_left(ctx_b);
    check_no_work_left(ctx);
}

BOOST_AUTO_TEST_CASE(use_future_through_async_initiate)
{
    asio::io_context ctx;
    auto f = make_flight<std::string>(ctx);
    std::shared_ptr<td::waiter<std::string>> w;
    std::future<std::string> ok = make_waiter<std::string>(asio::use_future, w, f->executor());
    BOOST_TEST_REQUIRE(f->add_waiter(w));
    w.reset();
    asio::cancellation_signal sig;
    std::future<std::string> cancelled =
        make_waiter<std::string>(asio::bind_cancellation_slot(sig.slot(), asio::use_future), w, f->executor());
    BOOST_TEST_REQUIRE(f->add_waiter(w));
    w.reset();
    BOOST_TEST(f->waiter_count() == 2u);

    f->complete("token-f");
    sig.emit(ct::terminal);
    BOOST_TEST((ok.wait_for(std::chrono::seconds(0)) == std::future_status::timeout));
    BOOST_TEST((cancelled.wait_for(std::chrono::seconds(0)) == std::future_status::timeout));
    run_ready(ctx);
    BOOST_TEST_REQUIRE((ok.wait_for(std::chrono::seconds(0)) == std::future_status::ready));
    BOOST_TEST_REQUIRE((cancelled.wait_for(std::chrono::seconds(0)) == std::future_status::ready));
    BOOST_TEST(ok.get() == "token-f");
    error_code got;
    try {
        cancelled.get();
    } catch (const boost::system::system_error& e) {
        got = e.code();
    }
    BOOST_TEST(got == aborted);

    // An error travels as an exception carrying the code.
    auto g = make_flight<std::string>(ctx);
    std::future<std::string> failed = make_waiter<std::string>(asio::use_future, w, g->executor());
    BOOST_TEST_REQUIRE(g->add_waiter(w));
    w.reset();
    g->complete(server_error, server_diag(), "x");
    run_ready(ctx);
    got = {};
    try {
        failed.get();
    } catch (const boost::system::system_error& e) {
        got = e.code();
    }
    BOOST_TEST(got == server_error);
    check_no_work_left(ctx);
}

BOOST_AUTO_TEST_CASE(watch_cancellation_and_complete_waiter_for_a_known_result)
{
    // A cache hit: no flight; the result is known when the waiter is made.
    for (ct type : cancel_types) {
        BOOST_TEST_CONTEXT("cancellation type " << static_cast<int>(type))
        {
            asio::io_context ctx;
            outcome<std::string> hit, cancelled, late, none;
            asio::cancellation_signal sig_hit, sig_cancelled, sig_late, sig_none;
            diagnostics dc = stale_diag(), dh = stale_diag();
            struct started {
                std::weak_ptr<td::waiter<std::string>> w;
                asio::cancellation_slot slot;
            };
            auto start = [&](asio::cancellation_signal& sig, outcome<std::string>& o, diagnostics* d) {
                std::shared_ptr<td::waiter<std::string>> w;
                make_waiter<std::string>(asio::bind_cancellation_slot(sig.slot(), recorder(o)), w, ctx.get_executor(),
                                         d);
                BOOST_TEST(!w->slot.is_connected());
                td::watch_cancellation(w);
                BOOST_TEST(w->slot.has_handler());
                started s{w, w->slot};
                td::complete_waiter<std::string>(std::move(w), ctx.get_executor(), {}, {}, "cached");
                return s;
            };
            auto w_hit = start(sig_hit, hit, &dh).w;
            auto w_cancelled = start(sig_cancelled, cancelled, &dc).w;
            const auto slot_late = start(sig_late, late, nullptr).slot;
            start(sig_none, none, nullptr);
            BOOST_TEST(hit.calls + cancelled.calls + late.calls + none.calls == 0);
            BOOST_TEST(!w_hit.expired()); // owned by its queued completion

            sig_cancelled.emit(type);
            sig_none.emit(ct::none);
            run_ready(ctx);
            BOOST_TEST(w_hit.expired());
            BOOST_TEST(w_cancelled.expired());
            BOOST_TEST(hit.calls == 1);
            BOOST_TEST(hit.ec == error_code());
            BOOST_TEST(hit.value == "cached");
            BOOST_TEST(dh.empty());
            BOOST_TEST(cancelled.calls == 1);
            BOOST_TEST(cancelled.ec == aborted);
            BOOST_TEST(cancelled.value == "");
            BOOST_TEST(dc.empty());
            BOOST_TEST(none.calls == 1);
            BOOST_TEST(none.value == "cached");
            BOOST_TEST(late.calls == 1);
            BOOST_TEST(!slot_late.has_handler());

            sig_late.emit(type); // after the handler ran: nothing
            BOOST_TEST(run_ready(ctx) == 0u);
            BOOST_TEST(late.calls == 1);
            BOOST_TEST(late.value == "cached");
            check_no_work_left(ctx);
        }
    }
}

BOOST_AUTO_TEST_CASE(complete_waiter_with_an_error_fills_diagnostics)
{
    asio::io_context ctx;
    outcome<int> o;
    diagnostics d = stale_diag();
    std::shared_ptr<td::waiter<int>> w;
    make_waiter<int>(recorder(o), w, ctx.get_executor(), &d);
    td::watch_cancellation(w); // no slot: nothing to watch, and no harm
    td::complete_waiter<int>(std::move(w), ctx.get_executor(), server_error, server_diag(), 0);
    BOOST_TEST((d == stale_diag()));
    run_ready(ctx);
    BOOST_TEST(o.calls == 1);
    BOOST_TEST(o.ec == server_error);
    BOOST_TEST((d == server_diag()));
}

// ---------------------------------------------------------------------------
// Lifetimes

BOOST_AUTO_TEST_CASE(flight_released_while_completions_are_queued)
{
    for (bool cancel_queued : {false, true}) {
        BOOST_TEST_CONTEXT("cancel while queued " << cancel_queued)
        {
            asio::io_context ctx;
            auto f = make_flight<std::string>(ctx);
            std::weak_ptr<test_flight<std::string>> wf = f;
            outcome<std::string> a, b;
            asio::cancellation_signal sig_a, sig_b;
            std::weak_ptr<td::waiter<std::string>> wa =
                join<std::string>(*f, asio::bind_cancellation_slot(sig_a.slot(), recorder(a)));
            std::weak_ptr<td::waiter<std::string>> wb =
                join<std::string>(*f, asio::bind_cancellation_slot(sig_b.slot(), recorder(b)));
            sig_a.emit(ct::terminal); // a's completion queued through abandon
            f->complete("token-1");   // b's through the batch
            f.reset();
            BOOST_TEST(wf.expired()); // queued completions do not own the flight
            BOOST_TEST(!wa.expired());
            BOOST_TEST(!wb.expired());
            if (cancel_queued)
                sig_b.emit(ct::terminal); // the flight is gone; the waiter is still reached

            run_ready(ctx);
            BOOST_TEST(a.calls == 1);
            BOOST_TEST(a.ec == aborted);
            BOOST_TEST(b.calls == 1);
            BOOST_TEST(b.ec == (cancel_queued ? aborted : error_code()));
            BOOST_TEST(b.value == (cancel_queued ? "" : "token-1"));
            BOOST_TEST(wa.expired());
            BOOST_TEST(wb.expired());
            sig_a.emit(ct::terminal);
            sig_b.emit(ct::terminal);
            BOOST_TEST(a.calls == 1);
            BOOST_TEST(b.calls == 1);
            check_no_work_left(ctx);
        }
    }
}

BOOST_AUTO_TEST_CASE(io_context_destroyed_with_completions_queued)
{
    auto ctx = std::make_unique<asio::io_context>();
    auto f = make_flight<std::string>(*ctx);
    int calls = 0;
    auto alive = std::make_shared<int>(0); // owned by every handler
    std::weak_ptr<int> handlers_alive = alive;
    asio::cancellation_signal sig_a, sig_c;
    std::weak_ptr<td::waiter<std::string>> wa = join<std::string>(
        *f, asio::bind_cancellation_slot(sig_a.slot(), [&calls, alive](error_code, std::string) { ++calls; }));
    std::weak_ptr<td::waiter<std::string>> wb =
        join<std::string>(*f, [&calls, alive](error_code, std::string) { ++calls; });
    // A known result, as for a cache hit.
    std::shared_ptr<td::waiter<std::string>> c;
    make_waiter<std::string>(
        asio::bind_cancellation_slot(sig_c.slot(), [&calls, alive](error_code, std::string) { ++calls; }), c,
        ctx->get_executor());
    std::weak_ptr<td::waiter<std::string>> wc = c;
    td::watch_cancellation(c);
    td::complete_waiter<std::string>(std::move(c), ctx->get_executor(), {}, {}, "cached");
    alive.reset();

    sig_a.emit(ct::terminal);
    f->complete("token-1");
    BOOST_TEST(!handlers_alive.expired());

    ctx.reset(); // destroys the queued completions without running them
    BOOST_TEST(calls == 0);
    BOOST_TEST(wa.expired());
    BOOST_TEST(wb.expired());
    BOOST_TEST(wc.expired());
    BOOST_TEST(handlers_alive.expired());
    sig_a.emit(ct::terminal); // the signals still hold handlers whose waiters are gone: nothing
    sig_c.emit(ct::terminal);
    BOOST_TEST(calls == 0);
    f.reset();
}

BOOST_AUTO_TEST_CASE(handlers_io_context_destroyed_with_the_completion_queued)
{
    asio::io_context ctx;
    int calls = 0;
    auto alive = std::make_shared<int>(0);
    std::weak_ptr<int> handler_alive = alive;
    auto ctx2 = std::make_unique<asio::io_context>();
    auto f = make_flight<int>(ctx);
    std::weak_ptr<td::waiter<int>> w =
        join<int>(*f, asio::bind_executor(*ctx2, [&calls, alive](error_code, int) { ++calls; }));
    alive.reset();
    f->complete(1);
    run_ready(ctx); // queued on ctx2 now
    BOOST_TEST(!w.expired());
    ctx2.reset();
    BOOST_TEST(calls == 0);
    BOOST_TEST(w.expired());
    BOOST_TEST(handler_alive.expired());
    check_no_work_left(ctx);
}

// ---------------------------------------------------------------------------
// Threads (also run under ThreadSanitizer)

BOOST_AUTO_TEST_CASE(two_threads_cancellations_from_a_strand_race_the_result)
{
    // One io_context run by two threads; every handler and every emit runs on
    // one strand, as Asio requires of a cancellation slot. Which of a
    // cancellation and the completion comes first varies; the rule does not:
    // a handler that runs after its waiter's cancellation sees
    // operation_aborted, one that runs before sees the value, each runs once.
    constexpr int rounds = 30;
    constexpr std::size_t n = 24;
    for (int round = 0; round < rounds; ++round) {
        const bool cancel_all = round % 2 == 1;
        BOOST_TEST_CONTEXT("round " << round << " cancel_all " << cancel_all)
        {
            struct seen {
                int calls = 0;
                error_code ec;
                int value = -1;
                bool emitted = false;
                bool emitted_before = false;
                bool on_strand = false;
            };
            asio::io_context ctx(2);
            auto strand = asio::make_strand(ctx);
            auto f = make_flight<int>(ctx);
            std::vector<asio::cancellation_signal> sigs(n);
            std::vector<seen> st(n);
            for (std::size_t i = 0; i < n; ++i) {
                auto handler = [&st, &strand, i](error_code ec, int v) {
                    auto& s = st[i];
                    ++s.calls;
                    s.ec = ec;
                    s.value = v;
                    s.emitted_before = s.emitted;
                    s.on_strand = strand.running_in_this_thread();
                };
                join<int>(*f, asio::bind_executor(strand, asio::bind_cancellation_slot(sigs[i].slot(), handler)));
            }
            // The emits form a chain, one strand step each with a hop through
            // the io_context between them, so the batch's handlers (queued on
            // the strand from the other thread) fall between them. The work
            // finishes when the chain reaches `finish_at` (a later point in
            // every round), or at its end.
            const std::size_t finish_at = static_cast<std::size_t>(round) % (n + 2);
            bool finished = false; // strand only
            auto finish = [&] {
                if (!std::exchange(finished, true))
                    asio::post(ctx, [&f] { f->complete(7); });
            };
            std::function<void(std::size_t)> emit_from = [&](std::size_t i) {
                for (; i < n; ++i) {
                    if (i == finish_at)
                        finish();
                    if (cancel_all || i % 2 == 0)
                        break;
                }
                if (i >= n) {
                    finish();
                    return;
                }
                st[i].emitted = true;
                sigs[i].emit(cancel_types[i % 3]);
                asio::post(ctx, [&, i] { asio::dispatch(strand, [&, i] { emit_from(i + 1); }); });
            };
            asio::post(strand, [&] { emit_from(0); });
            std::thread t([&ctx] { ctx.run(); });
            ctx.run();
            t.join();

            int aborted_count = 0;
            for (std::size_t i = 0; i < n; ++i) {
                BOOST_TEST_CONTEXT("waiter " << i)
                {
                    const auto& s = st[i];
                    BOOST_TEST(s.calls == 1);
                    BOOST_TEST(s.on_strand);
                    if (s.emitted_before) {
                        BOOST_TEST(s.ec == aborted);
                        BOOST_TEST(s.value == 0);
                        ++aborted_count;
                    } else {
                        BOOST_TEST(s.ec == error_code());
                        BOOST_TEST(s.value == 7);
                    }
                    if (!cancel_all && i % 2 == 1)
                        BOOST_TEST(!s.emitted);
                }
            }
            BOOST_TEST_MESSAGE("round " << round << ": " << aborted_count << " of " << n << " aborted, stops "
                                        << f->stops());
            BOOST_TEST(f->waiter_count() == 0u);
            BOOST_TEST(f->closed());
            if (!cancel_all)
                BOOST_TEST(f->stops() == 0);
            else {
                BOOST_TEST(f->stops() <= 1);
                if (f->stops() == 1) // everyone left before the result: all aborted
                    BOOST_TEST(aborted_count == static_cast<int>(n));
            }
            check_no_work_left(ctx);
        }
    }
}

// ---------------------------------------------------------------------------
// A handler that throws

BOOST_AUTO_TEST_CASE(throwing_handler_does_not_drop_the_rest_of_the_batch)
{
    // The exception leaves run(), as Asio allows; the other waiters of the
    // same batch still complete, as separately posted completions would.
    asio::io_context ctx;
    auto f = make_flight<int>(ctx);
    outcome<int> b;
    join<int>(*f, [](error_code, int) { throw std::runtime_error("handler threw"); });
    join<int>(*f, recorder(b));
    f->complete(5);
    BOOST_CHECK_THROW(run_ready(ctx), std::runtime_error);
    run_ready(ctx);
    BOOST_TEST(b.calls == 1);
    BOOST_TEST(b.value == 5);
    check_no_work_left(ctx);
}

// --- waiters made with the service's own executor as fallback -----------------
// The service makes waiters with an any_completion_executor fallback that is its
// own executor: a plain handler then runs inside the batch, with no tracked work
// of its own; a handler with an executor of its own is dispatched as before.

template <class T, class Token>
std::shared_ptr<td::waiter<T>> join_on_service_executor(test_flight<T>& f, const asio::any_completion_executor& fallback,
                                                        Token&& token)
{
    std::shared_ptr<td::waiter<T>> w;
    asio::async_initiate<Token, void(error_code, T)>(
        [&w, &fallback](auto handler) {
            w = std::make_shared<td::waiter<T>>(td::handler_of<T>(std::move(handler)), nullptr, fallback);
        },
        token);
    BOOST_TEST_REQUIRE(f.add_waiter(w));
    return w;
}

BOOST_AUTO_TEST_CASE(plain_handlers_on_the_service_executor_run_inside_the_batch)
{
    asio::io_context ctx;
    auto f = make_flight<int>(ctx);
    const asio::any_completion_executor fallback(f->executor());
    std::vector<outcome<int>> os(3);
    for (auto& o : os) {
        auto w = join_on_service_executor<int>(*f, fallback, recorder(o));
        BOOST_TEST(w->on_fallback);
        BOOST_TEST(!w->work.has_value()); // no tracked executor: nothing allocated for it
    }
    f->complete(7);
    BOOST_TEST(run_ready(ctx) == 1u); // the batch ran every handler itself
    for (auto& o : os) {
        BOOST_TEST(o.calls == 1);
        BOOST_TEST(o.value == 7);
    }
    check_no_work_left(ctx);
}

BOOST_AUTO_TEST_CASE(service_executor_waiter_cancelled_while_queued_still_aborts)
{
    for (auto type : cancel_types) {
        asio::io_context ctx;
        auto f = make_flight<int>(ctx);
        const asio::any_completion_executor fallback(f->executor());
        outcome<int> o, other;
        asio::cancellation_signal sig;
        join_on_service_executor<int>(*f, fallback, asio::bind_cancellation_slot(sig.slot(), recorder(o)));
        join_on_service_executor<int>(*f, fallback, recorder(other));
        f->complete(7);
        sig.emit(type); // the result is known and queued: the cancellation still wins
        run_ready(ctx);
        BOOST_TEST(o.calls == 1);
        BOOST_TEST(o.ec == aborted);
        BOOST_TEST(o.value == 0);
        BOOST_TEST(other.calls == 1);
        BOOST_TEST(other.value == 7);
        check_no_work_left(ctx);
    }
}

BOOST_AUTO_TEST_CASE(service_executor_waiter_with_its_own_executor_is_dispatched_there)
{
    asio::io_context ctx, other_ctx;
    auto f = make_flight<int>(ctx);
    const asio::any_completion_executor fallback(f->executor());
    outcome<int> o;
    auto w = join_on_service_executor<int>(*f, fallback, asio::bind_executor(other_ctx.get_executor(), recorder(o)));
    BOOST_TEST(!w->on_fallback);
    BOOST_TEST(w->work.has_value()); // keeps other_ctx running until completion
    w.reset();
    f->complete(7);
    run_ready(ctx);
    BOOST_TEST(o.calls == 0); // not on the flight's context
    other_ctx.run();
    BOOST_TEST(o.calls == 1);
    BOOST_TEST(o.value == 7);
}

BOOST_AUTO_TEST_CASE(service_executor_waiter_left_alone_completes_on_the_service_executor)
{
    asio::io_context ctx;
    auto f = make_flight<int>(ctx);
    const asio::any_completion_executor fallback(f->executor());
    outcome<int> o;
    asio::cancellation_signal sig;
    join_on_service_executor<int>(*f, fallback, asio::bind_cancellation_slot(sig.slot(), recorder(o)));
    sig.emit(ct::terminal); // the last waiter leaves: completed alone (complete_waiter), work stopped
    BOOST_TEST(o.calls == 0); // never inline
    BOOST_TEST(f->stops() == 1);
    run_ready(ctx);
    BOOST_TEST(o.calls == 1);
    BOOST_TEST(o.ec == aborted);
    check_no_work_left(ctx);
}

BOOST_AUTO_TEST_SUITE_END()
