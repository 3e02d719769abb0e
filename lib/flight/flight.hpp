// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_FLIGHT_FLIGHT_HPP
#define TETRAPAK_LIB_FLIGHT_FLIGHT_HPP

// Single-flight: one piece of shared work (a token request, a discovery
// fetch) and the callers waiting on it. A waiter that is cancelled leaves at
// once; the work is told to stop only when no waiter remains, and a detached
// flight (a background renewal, whose result is for the cache) is never told.
// Core Asio only: unit-tested without sockets (test/unit/flight.cpp).

#include "waiter.hpp"

#include <boost/asio/cancellation_type.hpp>

#include <mutex>
#include <vector>

namespace tetrapak::detail {

template <class T>
class flight;

/// Installed in a waiter's cancellation slot. Holds only weak references: the
/// flight and a pending completion own the waiter, so no cycle forms through a
/// signal the handler itself owns.
template <class T>
struct waiter_cancel {
    std::weak_ptr<waiter<T>> w;
    std::weak_ptr<flight<T>> f; ///< empty for a waiter whose result is already known

    void operator()(boost::asio::cancellation_type type)
    {
        using ct = boost::asio::cancellation_type;
        if ((type & (ct::terminal | ct::partial | ct::total)) == ct::none)
            return;
        auto sw = w.lock();
        if (!sw || sw->cancelled.exchange(true))
            return;
        if (auto fs = f.lock())
            fs->abandon(sw);
    }
};

/// For a waiter whose result is already known: a signal that arrives before
/// its completion ran still wins (run_handler checks).
template <class T>
void watch_cancellation(const std::shared_ptr<waiter<T>>& w)
{
    w->slot = boost::asio::get_associated_cancellation_slot(w->handler);
    if (w->slot.is_connected())
        w->slot.template emplace<waiter_cancel<T>>(waiter_cancel<T>{w, {}});
}

/// Completes many waiters with one post: the batch runs on `ex` and runs each
/// waiter whose handler has no executor of its own at once; the others are
/// dispatched to their handler's executor (which runs them at once when it is
/// the one running the batch). A storm of
/// waiters then costs one queued operation, not one per waiter. A handler that
/// throws from an executor that runs it inline leaves the rest of the batch
/// posted again, so no waiter is dropped uncompleted.
template <class T>
struct waiter_batch {
    boost::asio::any_io_executor ex;
    std::vector<std::shared_ptr<waiter<T>>> ws;
    std::size_t next = 0;

    void operator()()
    {
        while (next < ws.size()) {
            auto w = std::move(ws[next++]);
            try {
                waiter_hop<T>{std::move(w)}();
            } catch (...) {
                if (next < ws.size())
                    boost::asio::post(ex, std::move(*this));
                throw;
            }
        }
    }
};

/// The shared work and its waiters. The waiter list is guarded by a mutex that
/// is never held across a handler call or a call into the work.
template <class T>
class flight : public std::enable_shared_from_this<flight<T>> {
public:
    /// `ex` runs the completions of waiters whose handlers have no executor of
    /// their own. A detached flight goes on when its last waiter leaves.
    explicit flight(boost::asio::any_io_executor ex, bool detached = false) : ex_(std::move(ex)), detached_(detached) {}
    virtual ~flight() = default;
    flight(const flight&) = delete;
    flight& operator=(const flight&) = delete;

    /// Joins a waiter; false when the flight finished or was abandoned (then
    /// the caller starts new work instead of joining work that will not end well).
    bool add_waiter(const std::shared_ptr<waiter<T>>& w)
    {
        std::lock_guard lock(mtx_);
        if (closed_)
            return false;
        w->slot = boost::asio::get_associated_cancellation_slot(w->handler);
        if (w->slot.is_connected())
            w->slot.template emplace<waiter_cancel<T>>(waiter_cancel<T>{w, this->weak_from_this()});
        waiters_.push_back(w);
        return true;
    }

    /// A waiter leaves with operation_aborted. When it was the last one of an
    /// attached flight, the flight closes and the work is told to stop.
    void abandon(const std::shared_ptr<waiter<T>>& w)
    {
        bool found = false, last = false;
        {
            std::lock_guard lock(mtx_);
            for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
                if (*it == w) {
                    waiters_.erase(it);
                    found = true;
                    break;
                }
            }
            last = found && waiters_.empty() && !closed_ && !detached_;
            if (last)
                closed_ = true;
        }
        if (!found)
            return; // already handed its result; its completion sees `cancelled`
        complete_waiter<T>(w, ex_, boost::asio::error::operation_aborted, {}, T{});
        if (last)
            stop_work();
    }

    /// How many callers wait (for tests and diagnostics).
    std::size_t waiter_count() const
    {
        std::lock_guard lock(mtx_);
        return waiters_.size();
    }

    /// True once the result was handed out or the last waiter left.
    bool closed() const
    {
        std::lock_guard lock(mtx_);
        return closed_;
    }

protected:
    /// Hands the result to every waiter (in one batch) and closes the flight.
    void finish(boost::system::error_code ec, const diagnostics& diag, const T& value)
    {
        std::vector<std::shared_ptr<waiter<T>>> ws;
        {
            std::lock_guard lock(mtx_);
            closed_ = true;
            ws.swap(waiters_);
        }
        if (ws.empty())
            return;
        for (auto& w : ws)
            set_result<T>(*w, ec, diag, ec ? T{} : value);
        boost::asio::post(ex_, waiter_batch<T>{ex_, std::move(ws)});
    }

    /// Called once, outside the lock, when the last waiter of an attached
    /// flight has left. The work must still end with finish() (which then
    /// completes nobody); it is called from the cancelling thread.
    virtual void stop_work() = 0;

    boost::asio::any_io_executor ex_;

private:
    const bool detached_;
    mutable std::mutex mtx_;
    std::vector<std::shared_ptr<waiter<T>>> waiters_;
    bool closed_ = false;
};

} // namespace tetrapak::detail

#endif
