// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_DETAIL_TOKEN_STATE_HPP
#define TETRAPAK_LIB_DETAIL_TOKEN_STATE_HPP

#include <tetrapak/actor_token.hpp>

#include <boost/json/object.hpp>

namespace tetrapak::detail {

struct token_state {
    actor_token::fields f;
    boost::json::object claims;
    bool jwt = false;
};

} // namespace tetrapak::detail

#endif
