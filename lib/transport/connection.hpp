// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_TRANSPORT_CONNECTION_HPP
#define TETRAPAK_LIB_TRANSPORT_CONNECTION_HPP

// One connection to an endpoint. Included only by the transport's own sources:
// the TLS stream type stays out of every other translation unit.

#include "connection_pool.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <optional>

namespace tetrapak::detail {

/// A TCP (and TLS) stream with its read buffer. Used by one exchange at a time
/// (the pool hands it out exclusively), so it needs no strand of its own: the
/// exchange's handlers carry the strand of the job that runs it.
struct connection {
    connection(const boost::asio::any_io_executor& ex, boost::asio::ssl::context& tls,
               std::shared_ptr<endpoint_slots> slot)
        : ex(ex), tls_ctx(&tls), slots(std::move(slot))
    {
        reset_stream();
    }

    /// Closes the socket before its slot goes to the next waiting request.
    ~connection()
    {
        stream.reset();
        if (slots)
            slots->release();
    }
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Replaces the stream with a new, unconnected one (a stale pooled connection).
    void reset_stream()
    {
        stream.emplace(ex, *tls_ctx);
        buffer.clear();
    }

    boost::beast::tcp_stream& tcp() { return boost::beast::get_lowest_layer(*stream); }

    boost::asio::any_io_executor ex;
    boost::asio::ssl::context* tls_ctx;
    /// (Not beast::ssl_stream, which Beast deprecates from 1.86 on.)
    std::optional<boost::asio::ssl::stream<boost::beast::tcp_stream>> stream;
    boost::beast::flat_buffer buffer;
    std::chrono::steady_clock::time_point idle_since{};
    std::shared_ptr<endpoint_slots> slots; ///< the slot this connection holds (null: unbounded)
};

} // namespace tetrapak::detail

#endif
