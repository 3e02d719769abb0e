// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_FLEET_REDIS_CONNECTION_HPP
#define TETRAPAK_LIB_FLEET_REDIS_CONNECTION_HPP

// One connection to Redis, with its I/O on Asio and the RESP protocol from
// hiredis (only its command formatter and reply reader: hiredis never
// touches the socket, so nothing resolves names or blocks synchronously).
//
// Commands are pipelined: each is written as it comes and replies are matched
// in order. The connection opens on first use and again after a failure;
// every command has a deadline (connect_timeout while the connection opens,
// then command_timeout), and a command past it fails the connection and
// every command on it with error::redis_timeout: Redis answers in order, so
// the others are late too. A command's cancellation completes it at once with
// operation_aborted; its reply is read and dropped when it comes.
//
// The commands' handlers wait in the connection's own queue, outside the
// execution context: when the context shuts down (io_context destroyed),
// they are destroyed with the handlers Asio holds, as Asio's own I/O objects
// do. (A handler that owns the connection's owner would otherwise keep both
// alive for ever.)
//
// Subscriber mode (`pushes`): "message" arrays that no command asked for go
// to the push callback; `on_open` commands (SUBSCRIBE) are sent again on each
// new connection.

#include "redis_endpoint.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tetrapak::detail {

/// A reply, copied out of hiredis's tree.
struct redis_reply {
    enum class kind { nil, string, status, error, integer, array };
    kind type = kind::nil;
    std::string str; ///< string, status and error replies
    long long integer = 0;
    std::vector<redis_reply> elements;

    bool is_nil() const noexcept { return type == kind::nil; }
};

using redis_command = std::vector<std::string>;
using redis_signature = void(boost::system::error_code, redis_reply);

struct redis_limits {
    std::chrono::milliseconds connect{100};
    std::chrono::milliseconds command{50};
    /// Largest amount of unparsed reply data held (a larger reply fails the connection).
    std::size_t max_buffered = 1024 * 1024;
};

class redis_connection : public std::enable_shared_from_this<redis_connection> {
public:
    /// `tls` is used for rediss:// endpoints (may be null otherwise).
    redis_connection(boost::asio::any_io_executor ex, std::shared_ptr<boost::asio::ssl::context> tls,
                     redis_endpoint ep, redis_limits limits);
    ~redis_connection();
    redis_connection(const redis_connection&) = delete;
    redis_connection& operator=(const redis_connection&) = delete;

    /// Subscriber mode: `push` receives unrequested "message" replies (on the
    /// connection's strand); `on_open` commands run first on every new
    /// connection. Call before the first command.
    void set_subscriber(std::vector<redis_command> on_open, std::function<void(redis_reply)> push);

    /// Sends `cmd`. An error reply completes with error::redis_error_reply and
    /// the reply; a lost or late connection with error::redis_unavailable or
    /// error::redis_timeout. Completes through the handler's executor.
    template <class Token>
    auto async_exec(redis_command cmd, Token&& token)
    {
        return boost::asio::async_initiate<Token, redis_signature>(
            [this](auto handler, redis_command c) {
                exec(std::move(c), boost::asio::any_completion_handler<redis_signature>(std::move(handler)));
            },
            token, std::move(cmd));
    }

    /// Closes the socket; pending commands complete with operation_aborted.
    void close();
    /// Closes once every command sent so far has its reply (or its deadline
    /// passed): writes that were sent and not waited for still land.
    void close_when_idle();

    /// True while a connection is open and authenticated (for tests and metrics).
    bool is_open() const noexcept;

private:
    struct state;
    class registry; // the execution context's service that destroys queued handlers at shutdown
    void exec(redis_command cmd, boost::asio::any_completion_handler<redis_signature> handler);

    std::shared_ptr<state> st_; // owned jointly by the coroutines that run on it
};

} // namespace tetrapak::detail

#endif
