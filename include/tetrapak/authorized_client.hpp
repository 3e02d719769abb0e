// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_AUTHORIZED_CLIENT_HPP
#define TETRAPAK_AUTHORIZED_CLIENT_HPP

/// \file
/// Authorized outgoing Beast requests (the SDK's HttpClientProvider +
/// BackendService): a token from an authorization_service on each request,
/// a new token and one more try after a downstream 401.

#include <tetrapak/authorization_service.hpp>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <memory>
#include <string>

namespace tetrapak {

/// Settings of an authorized_client (all requests).
struct client_settings {
    /// The correlation header (the SDK's `RequestMessageIdHeader`).
    std::string correlation_header = "api-flow-id";
    /// Per-step bounds of each downstream request.
    tetrapak::timeouts timeouts;
    /// Largest accepted downstream response body (default 8 MiB).
    std::size_t max_response_size = 8 * 1024 * 1024;
    /// Largest accepted downstream response header section, in bytes (default 16 KiB).
    std::size_t max_header_size = 16 * 1024;
    /// Allows http:// downstream URLs, and only on loopback hosts.
    bool allow_insecure_http_on_loopback = false;
};

/// What one outgoing request is for.
struct outgoing_options {
    /// How its token is obtained (config, the caller's token for an exchange, force).
    http_client_options authorization;
    /// Sent in `client_settings::correlation_header` when non-empty (propagate the incoming one).
    std::string correlation_id;
};

/// Sends Beast requests with `Authorization: Bearer <token>`.
///
/// The header is set on a copy of each request (never on shared state), so
/// one client serves concurrent requests for different callers. Connections
/// to downstream services are kept alive and reused (the service's pool and
/// TLS context, with certificate and host-name verification).
///
/// Thread safety: `async_send` may be called concurrently from any thread.
class authorized_client {
public:
    /// The downstream service's answer.
    using response_type = boost::beast::http::response<boost::beast::http::string_body>;
    /// A request to send. The client sets target, Host and Authorization (and
    /// DPoP and the correlation header when they apply) on its copy.
    using request_type = boost::beast::http::request<boost::beast::http::string_body>;
    /// What async_send completes with: an error code and the downstream response.
    using completion_signature = void(boost::system::error_code, response_type);
    /// The authorization service's executor type.
    using executor_type = authorization_service::executor_type;

    /// `auth` must outlive the client's operations.
    explicit authorized_client(authorization_service& auth, client_settings settings = {});

    /// The authorization service's executor: the default executor of handlers.
    executor_type get_executor() const noexcept;

    /// Sends `request` to `url` (absolute https URL; its path and query become
    /// the target) with a token from the service.
    ///
    /// Obtains the token with `async_authorize(options.authorization)`; a grant
    /// of `none` sends the request without one. When the downstream service
    /// answers 401, forces a new token and sends the request once more; a
    /// second 401 is returned as it is.
    ///
    /// @par Handler signature
    /// `void(boost::system::error_code, response_type)`: any answer the
    /// downstream service gave (including 4xx/5xx) is a success; errors are
    /// the token's (see async_authorize) or the transport's.
    /// @par Executor, cancellation, lifetimes
    /// As async_authorize: the handler runs through its associated executor;
    /// terminal, partial and total cancellation stop the token fetch or the
    /// request at any step (the connection is then closed, never reused).
    template <boost::asio::completion_token_for<completion_signature> CompletionToken =
                  boost::asio::default_completion_token_t<executor_type>>
    auto async_send(std::string url, request_type request, outgoing_options options = {}, CompletionToken&& token = {})
    {
        return boost::asio::async_initiate<CompletionToken, completion_signature>(
            initiation{this}, token, std::move(url), std::move(request), std::move(options), static_cast<diagnostics*>(nullptr));
    }

    /// As above; on failure `diag` holds what the token endpoint said (or the transport detail).
    template <boost::asio::completion_token_for<completion_signature> CompletionToken =
                  boost::asio::default_completion_token_t<executor_type>>
    auto async_send(std::string url, request_type request, outgoing_options options, diagnostics& diag,
                    CompletionToken&& token = {})
    {
        return boost::asio::async_initiate<CompletionToken, completion_signature>(
            initiation{this}, token, std::move(url), std::move(request), std::move(options), &diag);
    }

private:
    struct initiation {
        authorized_client* self;
        using executor_type = authorized_client::executor_type;
        executor_type get_executor() const noexcept { return self->get_executor(); }
        template <class Handler>
        void operator()(Handler&& handler, std::string url, request_type request, outgoing_options options,
                        diagnostics* diag) const
        {
            self->initiate(std::move(url), std::move(request), std::move(options), diag,
                           boost::asio::any_completion_handler<completion_signature>(std::forward<Handler>(handler)));
        }
    };
    void initiate(std::string url, request_type request, outgoing_options options, diagnostics* diag,
                  boost::asio::any_completion_handler<completion_signature> handler);

    authorization_service* auth_;
    std::shared_ptr<const client_settings> settings_;
};

} // namespace tetrapak

#endif
