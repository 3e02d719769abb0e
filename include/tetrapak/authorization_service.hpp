// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_AUTHORIZATION_SERVICE_HPP
#define TETRAPAK_AUTHORIZATION_SERVICE_HPP

/// \file
/// `authorization_service`: obtains, caches and renews tokens for outgoing
/// calls (the SDK's `IAuthorizationService`).

#include <tetrapak/actor_token.hpp>
#include <tetrapak/config.hpp>
#include <tetrapak/diagnostics.hpp>
#include <tetrapak/http_client_options.hpp>
#include <tetrapak/metrics.hpp>
#include <tetrapak/trace.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/system/error_code.hpp>

#include <boost/system/result.hpp>

#include <functional>
#include <memory>

namespace boost::asio::ssl { class context; }

namespace tetrapak {

namespace detail {
struct service_impl;
struct pending_call;
} // namespace detail

/// \namespace tetrapak
/// tetrapak-asio: OAuth 2.0 client tokens for Boost.Asio (the authorization
/// service of the .NET TetraPak SDK, done the Asio way). Implementation
/// details live in `tetrapak::detail` and are not part of the API.

/// Chooses the grant for one call (replaceable; the default is
/// tetrapak::resolve_grant, the SDK's choice). Return error::no_authorization
/// for "no token needed", or any error to refuse before a request is made.
using grant_resolver = std::function<boost::system::result<grant_type>(const auth_config&, const http_client_options&,
                                                                       diagnostics&)>;

/// Obtains tokens for outgoing calls (the SDK's `IAuthorizationService`).
///
/// Lifetime: operations keep the service's state alive, so work started
/// before the object is destroyed (a fetch others wait on, a background
/// renewal, a deferred operation) finishes on the io_context afterwards and
/// may still call the trace and metrics hooks: what they capture must live
/// until the io_context has run out of work.
///
/// Thread safety: distinct objects: safe. Shared object: `async_authorize`
/// may be called concurrently from any thread; the other members are not
/// synchronised with it (configure the service before first use).
class authorization_service {
public:
    /// The executor of the service's I/O, and the default executor of completion handlers.
    using executor_type = boost::asio::any_io_executor;
    /// What async_authorize completes with: an error code and the token (empty on failure).
    using completion_signature = void(boost::system::error_code, actor_token);

    /// Builds its own TLS context from `config.tls` (TLS 1.2 or later,
    /// certificate and host-name verification on).
    /// @throws error_with_diagnostics when `config.tls` cannot be used (a CA
    /// file or client certificate that cannot be read; the diagnostics name
    /// the setting).
    authorization_service(executor_type ex, auth_config config);

    /// Uses the caller's TLS context, which must outlive every operation of
    /// the service, background renewals included: keep it until the
    /// io_context has run out of work or is destroyed. The
    /// service still enables peer verification and host-name checks per
    /// request unless `config.tls` turns them off.
    authorization_service(executor_type ex, boost::asio::ssl::context& tls, auth_config config);

    authorization_service(const authorization_service&) = delete;
    authorization_service& operator=(const authorization_service&) = delete;
    /// Takes over the service; work already started goes on. The moved-from
    /// object may only be destroyed or assigned to.
    authorization_service(authorization_service&&) noexcept;
    /// Takes over the other service and lets go of this one's (whose started
    /// work still finishes, as after destruction). The moved-from object may
    /// only be destroyed or assigned to.
    authorization_service& operator=(authorization_service&&) noexcept;
    ~authorization_service();

    /// The executor given to the constructor.
    executor_type get_executor() const noexcept;

    /// The configuration used when `http_client_options::auth_config` is null.
    const auth_config& config() const noexcept;

    /// Sets a hook that sees every step of every request (for logs, metrics,
    /// the CLI's --verbose). Call before the first request. It runs on the
    /// requests' internal strands: concurrent requests call it concurrently.
    void set_trace(trace_hook hook);

    /// Replaces the grant choice (call before the first request).
    void set_grant_resolver(grant_resolver resolver);

    /// Sets a hook that sees every cache, single-flight, renewal, retry and
    /// connection event (call before the first request). See metrics.hpp.
    void set_metrics(metrics_hook hook);

    /// The totals of every metric since the service was created. Thread-safe.
    service_stats stats() const noexcept;

    /// Removes the cached token `options` would be served (and any remembered
    /// Retry-After for it). True when there was one. Thread-safe.
    bool invalidate(http_client_options options);

    /// Empties the token cache. Thread-safe.
    void clear_cache();

    /// The number of cached tokens. Thread-safe.
    std::size_t cache_size() const;

    /// Obtains a token for `options` (the SDK's `AuthorizeAsync`).
    ///
    /// Chooses the grant (the SDK's rules, see resolve_grant: client
    /// credentials, RFC 6749 §4.4, or token exchange, RFC 8693, of
    /// `options.actor_token`; or the configured RFC 7523 jwt_bearer grant with
    /// auth_config::jwt_bearer_assertion, or one signed with client_key), then
    /// performs it against the token endpoint
    /// over HTTPS: resolve, connect, TLS handshake (SNI, certificate and
    /// host-name verification), POST the form, read and parse the answer.
    /// A grant of `none` completes with error::no_authorization.
    ///
    /// @par Cache and single-flight
    /// Tokens are cached (unless `auth_config::cache.enabled` is false) under
    /// a digest of everything that shapes them: token endpoint, client id,
    /// authentication method, grant, sorted scopes, audience, resource, token
    /// types and the subject token's SHA-256. A cached token with at least
    /// `cache.min_validity` left completes the call without I/O (through the
    /// handler's executor, never inline); in its refresh window the call still
    /// completes at once and one background renewal starts (with the refresh
    /// token when the server issued one; a rejected refresh token falls back
    /// to the original grant once). If the renewal fails the cached token is
    /// served until it is unusable. `force_authorization` skips the cached
    /// token (a fetch already in flight for the key is joined) and replaces it.
    /// Concurrent calls for one key make one request; every caller gets its
    /// result. Failures are not cached, except a server's Retry-After: until it
    /// passes, calls for that key fail at once with the remembered error.
    ///
    /// @par Retries
    /// Transport errors, timeouts, 5xx and 429 are retried per
    /// `auth_config::retry` (a new request, with a new client assertion, each
    /// time); OAuth errors such as invalid_client never are.
    ///
    /// @par Handler signature
    /// `void(boost::system::error_code, tetrapak::actor_token)`. On failure
    /// the token is empty and the code is a `tetrapak::error` (what this
    /// library detected), a `tetrapak::oauth_errc` (what the server answered),
    /// or a transport error (`asio::error`, `ssl` errors).
    /// Use the `diagnostics&` overload, `tetrapak::with_diagnostics(token)` or
    /// `tetrapak::as_outcome(token)` to reach the server's error_description.
    ///
    /// @par Executor
    /// The handler runs on its associated executor, defaulting to this
    /// service's executor; never inside this call, even on immediate errors.
    ///
    /// @par Per-operation cancellation
    /// `terminal`, `partial` and `total` are honoured at every step (resolve,
    /// connect, handshake, write, read) and also when the signal arrives after
    /// the result is known but before the handler ran: the handler runs once,
    /// promptly, with `asio::error::operation_aborted` and an empty token.
    /// Before the request is written nothing is observable. After it is
    /// written the server may have issued a token, which is discarded with
    /// its connection (never reused): a token request has no other effect,
    /// so `total` is honoured there as well. A cancelled caller leaves alone:
    /// the shared fetch goes on for the other callers of its key and is
    /// stopped only when none remains; a background renewal is never stopped
    /// by a caller. Backoff waits between retries are cancelled the same way.
    ///
    /// @par Object lifetimes
    /// `options` is copied. The operation keeps the service's state alive (a
    /// deferred operation may even outlive the service object); a
    /// `diagnostics` passed by reference must stay valid until the handler runs.
    /// Emit the cancellation signal from the handler's executor (Asio's rule).
    /// Name resolution: cancellation and timeouts complete the operation at
    /// once, but a getaddrinfo call already running finishes in the background.
    template <boost::asio::completion_token_for<completion_signature> CompletionToken =
                  boost::asio::default_completion_token_t<executor_type>>
    auto async_authorize(http_client_options options, CompletionToken&& token = {});

    /// As above; on completion `diag` holds what the server said (cleared on success).
    template <boost::asio::completion_token_for<completion_signature> CompletionToken =
                  boost::asio::default_completion_token_t<executor_type>>
    auto async_authorize(http_client_options options, diagnostics& diag, CompletionToken&& token = {});

private:
    friend class authorized_client;
    struct initiate_authorize;
    static executor_type executor_of(const detail::service_impl& impl) noexcept;
    static void initiate(const std::shared_ptr<detail::service_impl>& impl, http_client_options options,
                         diagnostics* diag, boost::asio::any_completion_handler<completion_signature> handler);

    // The call split in two, so that a cache hit needs no type-erased handler:
    // `lookup` chooses the grant, keys it and looks the cache up; on a usable
    // cached token it counts the hit, starts the background renewal when one
    // is due, moves the token to `hit` and returns null. Otherwise it returns
    // the call's state for `initiate_pending` (a miss, a Retry-After, an error).
    struct pending_deleter {
        void operator()(detail::pending_call* p) const noexcept;
    };
    using pending_ptr = std::unique_ptr<detail::pending_call, pending_deleter>;
    static pending_ptr lookup(const std::shared_ptr<detail::service_impl>& impl, http_client_options& options,
                              actor_token& hit);
    static void initiate_pending(pending_ptr call, diagnostics* diag,
                                 boost::asio::any_completion_handler<completion_signature> handler);

    std::shared_ptr<detail::service_impl> impl_;
};

} // namespace tetrapak

#include <tetrapak/impl/authorization_service.hpp>

#endif
