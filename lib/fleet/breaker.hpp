// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_FLEET_BREAKER_HPP
#define TETRAPAK_LIB_FLEET_BREAKER_HPP

// The circuit breaker in front of the fleet's Redis. Pure: the caller passes
// `now` and guards it with its own mutex.
//
//   closed    every command goes to Redis; `failures` in a row open it
//   open      nothing goes to Redis until `open_for` has passed
//   half-open one probe goes; its success closes, its failure opens again
// While it is open the service works from its in-process cache alone, so a
// Redis that is down or stalled costs callers nothing after the first
// failures (each bounded by the command timeout).

#include <chrono>

namespace tetrapak::detail {

class circuit_breaker {
public:
    using clock = std::chrono::steady_clock;
    enum class state { closed, open, half_open };

    circuit_breaker(int failures, std::chrono::milliseconds open_for) noexcept
        : threshold_(failures > 0 ? failures : 1), open_for_(open_for)
    {
    }

    /// Whether a command may go to Redis now. In half-open state only one
    /// caller (the probe) gets true until it reports back.
    bool allow(clock::time_point now) noexcept
    {
        if (state_ == state::open && now >= reopen_at_) {
            state_ = state::half_open;
            probing_ = false;
        }
        if (state_ == state::closed)
            return true;
        if (state_ == state::half_open && !probing_) {
            probing_ = true;
            return true;
        }
        return false;
    }

    /// True when this success closed an open breaker (Redis is back).
    bool succeeded() noexcept
    {
        const bool recovered = state_ != state::closed;
        state_ = state::closed;
        failures_ = 0;
        probing_ = false;
        return recovered;
    }

    /// True when this failure opened the breaker.
    bool failed(clock::time_point now) noexcept
    {
        probing_ = false;
        if (state_ == state::half_open || ++failures_ >= threshold_) {
            const bool opened = state_ == state::closed;
            state_ = state::open;
            reopen_at_ = now + open_for_;
            failures_ = 0;
            return opened;
        }
        return false;
    }

    /// An allowed command was cancelled before it could tell: let another probe go.
    void abandoned() noexcept { probing_ = false; }

    state current() const noexcept { return state_; }

private:
    int threshold_;
    std::chrono::milliseconds open_for_;
    state state_ = state::closed;
    int failures_ = 0;
    bool probing_ = false;
    clock::time_point reopen_at_{};
};

} // namespace tetrapak::detail

#endif
