// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_TRANSPORT_DPOP_NONCES_HPP
#define TETRAPAK_LIB_TRANSPORT_DPOP_NONCES_HPP

// The latest DPoP nonce each server gave (RFC 9449 §8, §9), kept per origin
// (scheme, host, port): a server's nonce is valid for every URL it serves, so
// keeping nonces per URL (as some clients do) costs a use_dpop_nonce round
// trip per endpoint. Any response may carry a new one, successful ones too.

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace tetrapak::detail {

class dpop_nonce_store {
public:
    /// The nonce to send to `origin`; empty when it gave none yet.
    std::string get(const std::string& origin) const
    {
        std::lock_guard lock(mtx_);
        auto it = nonces_.find(origin);
        return it == nonces_.end() ? std::string() : it->second;
    }

    /// Remembers the nonce `origin` sent last (an empty one is ignored).
    void put(const std::string& origin, std::string_view nonce)
    {
        if (nonce.empty())
            return;
        std::lock_guard lock(mtx_);
        if (nonces_.size() >= max_origins && !nonces_.count(origin))
            nonces_.erase(nonces_.begin()); // bounded: a forgotten nonce costs one use_dpop_nonce answer
        nonces_.insert_or_assign(origin, std::string(nonce));
    }

private:
    static constexpr std::size_t max_origins = 1024;
    mutable std::mutex mtx_;
    std::unordered_map<std::string, std::string> nonces_;
};

} // namespace tetrapak::detail

#endif
