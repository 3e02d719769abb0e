// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_FLIGHT_WAITER_HPP
#define TETRAPAK_LIB_FLIGHT_WAITER_HPP

// A caller waiting for the result of shared work, and how it is completed:
// exactly once, never inside the call that made it, always through the
// handler's associated executor, and with a cancellation that arrives after
// the result was known still winning. Core Asio only: no sockets, no HTTP.

#include <tetrapak/diagnostics.hpp>

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace tetrapak::detail {

template <class T>
using handler_of = boost::asio::any_completion_handler<void(boost::system::error_code, T)>;

/// A caller waiting for a result.
template <class T>
struct waiter {
    /// `fallback` is the executor the handler runs on when it has none of its
    /// own. Pass it already converted (service_impl::completion_ex) on hot
    /// paths: converting an any_io_executor allocates each time.
    template <class Fallback>
    waiter(handler_of<T> h, diagnostics* d, const Fallback& fallback) : handler(std::move(h)), diag(d)
    {
        auto ex = boost::asio::get_associated_executor(handler, fallback);
        if constexpr (std::is_same_v<Fallback, decltype(ex)>)
            on_fallback = ex == fallback;
        // A handler of the service's own executor needs no work of its own:
        // the shared work's I/O, then its queued completion, keep that context
        // running. Converting to a tracked executor allocates.
        if (!on_fallback)
            work.emplace(boost::asio::prefer(std::move(ex), boost::asio::execution::outstanding_work.tracked));
    }

    handler_of<T> handler;
    diagnostics* diag;
    /// Keeps the handler's executor (its io_context) running until completion
    /// (empty when the handler runs on the fallback).
    std::optional<boost::asio::associated_executor_t<handler_of<T>, boost::asio::any_io_executor>> work;
    boost::asio::cancellation_slot slot;
    std::atomic<bool> cancelled{false};
    /// The handler has no executor of its own (it runs on the fallback): a
    /// batch already running there runs it without another dispatch.
    bool on_fallback = false;
    // The result, written once by complete_waiter before it posts. Kept here
    // rather than in the posted completion, which stays one pointer: a storm's
    // thousands of queued completions cost little more than their waiters.
    boost::system::error_code result_ec;
    std::unique_ptr<diagnostics> result_diag; ///< null: nothing to report (the common case)
    T result{};
};

/// Runs a waiter's handler with its result (on the handler's executor): the
/// result is moved out and every resource released before the call. A
/// cancellation that arrived after the result was known still wins here.
template <class T>
void run_handler(std::shared_ptr<waiter<T>> w)
{
    auto& x = *w;
    if (x.slot.is_connected())
        x.slot.clear();
    boost::system::error_code ec = x.result_ec;
    T value = std::move(x.result);
    auto diag = std::move(x.result_diag);
    if (x.cancelled.load()) {
        ec = boost::asio::error::operation_aborted;
        value = T{};
        diag.reset();
    }
    if (x.diag) {
        if (diag)
            *x.diag = std::move(*diag);
        else
            x.diag->clear();
    }
    auto handler = std::move(x.handler);
    x.work.reset();
    w.reset();
    diag.reset();
    std::move(handler)(ec, std::move(value));
}

/// The final step of a waiter, on the handler's associated executor.
template <class T>
struct waiter_completion {
    std::shared_ptr<waiter<T>> w;
    void operator()() { run_handler(std::move(w)); }
};

/// The first step, posted to the fallback executor (so never inline): it runs
/// the handler there when that is its executor, else dispatches the final step
/// to the handler's executor (what asio::post's work
/// dispatcher would do, without carrying a second executor in every queued
/// completion).
template <class T>
struct waiter_hop {
    std::shared_ptr<waiter<T>> w;

    void operator()()
    {
        if (w->on_fallback) { // already on the handler's executor
            run_handler(std::move(w));
            return;
        }
        auto ex = *w->work; // the final step releases w->work
        boost::asio::dispatch(ex, waiter_completion<T>{std::move(w)});
    }
};

/// Stores the result in the waiter (before it is handed to another thread).
template <class T>
void set_result(waiter<T>& w, boost::system::error_code ec, const diagnostics& diag, T value)
{
    w.result_ec = ec;
    if (!diag.empty())
        w.result_diag = std::make_unique<diagnostics>(diag);
    w.result = std::move(value);
}

/// Completes a waiter: never inline, always through its associated executor.
template <class T>
void complete_waiter(std::shared_ptr<waiter<T>> w, const boost::asio::any_io_executor& fallback,
                     boost::system::error_code ec, const diagnostics& diag, T value)
{
    set_result(*w, ec, diag, std::move(value));
    boost::asio::post(fallback, waiter_hop<T>{std::move(w)});
}

} // namespace tetrapak::detail

#endif
