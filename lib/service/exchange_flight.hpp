// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_SERVICE_EXCHANGE_FLIGHT_HPP
#define TETRAPAK_LIB_SERVICE_EXCHANGE_FLIGHT_HPP

// A flight whose work is HTTP exchanges and waits: the base of the token,
// discovery and authorized-client jobs. Everything a job does runs on its
// strand; the exchange's I/O runs there too (no hop between job and
// connection). When the last waiter leaves, the running step is cancelled and
// the job's next resume sees `stopped_`.

#include "../detail/strand.hpp"
#include "../flight/flight.hpp"
#include "../transport/http_exchange.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>

namespace tetrapak::detail {

template <class T>
class exchange_flight : public flight<T>, public exchange_owner {
protected:
    explicit exchange_flight(const boost::asio::any_io_executor& ex, bool detached = false)
        : flight<T>(ex, detached), strand_(make_strand_for(ex))
    {
    }

    /// The last waiter left: stop the running step (on the strand).
    void stop_work() override
    {
        boost::asio::post(strand_, [self = this->shared_from_this()] {
            auto& me = static_cast<exchange_flight&>(*self);
            me.stopped_ = true;
            me.cancel_.emit(boost::asio::cancellation_type::terminal);
            if (me.x_)
                me.x_->cancel();
        });
    }

    /// Runs `x` on this job's strand; exchange_done() follows there.
    void run_exchange(std::shared_ptr<http_exchange> x)
    {
        x_ = std::move(x);
        x_->start(strand_, std::shared_ptr<exchange_owner>(this->shared_from_this(), this));
    }

    /// `f` bound to this job's strand and to its stop signal (for waits that
    /// are not exchanges: discovery, a backoff, a token for an outgoing call).
    template <class F>
    auto on_strand(F&& f)
    {
        return boost::asio::bind_executor(strand_,
                                          boost::asio::bind_cancellation_slot(cancel_.slot(), std::forward<F>(f)));
    }

    boost::asio::any_io_executor strand_;
    std::shared_ptr<http_exchange> x_;
    bool stopped_ = false; ///< strand only: the last waiter left
    boost::asio::cancellation_signal cancel_;
};

} // namespace tetrapak::detail

#endif
