// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_TRANSPORT_EXCHANGE_PARTS_HPP
#define TETRAPAK_LIB_TRANSPORT_EXCHANGE_PARTS_HPP

// The state of two optional steps of an exchange, shared by http_exchange.cpp
// (which runs them) and exchange_connection.cpp (which sets them up): the wait
// for a connection slot and the CONNECT tunnel through a proxy. Neither
// instantiates Beast over TLS.

#include "http_exchange.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>

#include <chrono>
#include <memory>

namespace tetrapak::detail {

/// A request queued for one of its endpoint's connections: the slot's
/// release wakes it on its strand by cancelling the wait, which is bounded by
/// timeouts.connection_wait and by the exchange's cancellation.
struct http_exchange::slot_wait final : slot_request, std::enable_shared_from_this<slot_wait> {
    slot_wait(const boost::asio::any_io_executor& ex, boost::asio::any_io_executor strand)
        : timer(ex), strand(std::move(strand))
    {
    }

    void wake() override
    {
        boost::asio::post(strand, [self = shared_from_this()] { self->timer.cancel(); });
    }

    boost::asio::steady_timer timer;
    boost::asio::any_io_executor strand;
    std::chrono::steady_clock::time_point began = std::chrono::steady_clock::now();
};

/// A CONNECT request and the parser of its answer. A 2xx answer to CONNECT
/// has no body (RFC 9110 §9.3.6); any other is not read past its header, as
/// the connection is closed after it.
struct http_exchange::tunnel {
    boost::beast::http::request<boost::beast::http::empty_body> req;
    boost::beast::http::response_parser<boost::beast::http::empty_body> res;
};

} // namespace tetrapak::detail

#endif
