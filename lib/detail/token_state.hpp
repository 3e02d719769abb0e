// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_DETAIL_TOKEN_STATE_HPP
#define TETRAPAK_LIB_DETAIL_TOKEN_STATE_HPP

#include <tetrapak/actor_token.hpp>

#include <boost/json/object.hpp>

#include <array>

namespace tetrapak::detail {

struct token_state {
    actor_token::fields f;
    boost::json::object claims;
    bool jwt = false;
    /// SHA-256 of the raw value: the token's part of a cache key, and its fingerprint.
    std::array<unsigned char, 32> sha256{};
};

/// The SHA-256 of a token's raw value (all zero for the empty token).
const std::array<unsigned char, 32>& token_digest(const actor_token& t) noexcept;

} // namespace tetrapak::detail

#endif
