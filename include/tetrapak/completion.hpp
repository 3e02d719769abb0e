// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_COMPLETION_HPP
#define TETRAPAK_COMPLETION_HPP

/// \file
/// Completion-token adapters that carry the server's diagnostics.
///
/// - `as_outcome(token)`: completes with `void(outcome<actor_token>)`; never
///   throws. `co_await auth.async_authorize(o, as_outcome(use_awaitable))`
///   yields an `outcome<actor_token>`.
/// - `with_diagnostics(token)`: completes with
///   `void(std::exception_ptr, actor_token)`, the exception being an
///   `error_with_diagnostics`; so `co_await` with `with_diagnostics(use_awaitable)`
///   throws an exception whose `get_diagnostics()` holds the server's text.
///
/// Both adapt operations whose initiation takes
/// `(handler, http_client_options, diagnostics*)` (tetrapak's async_authorize).
/// Executor, allocator and cancellation slot of the inner handler are kept.

#include <tetrapak/actor_token.hpp>
#include <tetrapak/diagnostics.hpp>
#include <tetrapak/http_client_options.hpp>
#include <tetrapak/outcome.hpp>

#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/system/error_code.hpp>

#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

namespace tetrapak {

/// The completion token as_outcome() returns: `token`, completed with
/// `void(outcome<actor_token>)` instead of `(error_code, actor_token)`.
template <class CompletionToken>
struct as_outcome_t {
    CompletionToken token; ///< the wrapped completion token
};

/// The completion token with_diagnostics() returns: `token`, completed with
/// `void(std::exception_ptr, actor_token)` instead of `(error_code, actor_token)`.
template <class CompletionToken>
struct with_diagnostics_t {
    CompletionToken token; ///< the wrapped completion token
};

/// Adapts `token` to receive `outcome<actor_token>`.
template <class CompletionToken>
as_outcome_t<std::decay_t<CompletionToken>> as_outcome(CompletionToken&& token)
{
    return {std::forward<CompletionToken>(token)};
}

/// Adapts `token` to receive `(std::exception_ptr, actor_token)` with an
/// `error_with_diagnostics` on failure.
template <class CompletionToken>
with_diagnostics_t<std::decay_t<CompletionToken>> with_diagnostics(CompletionToken&& token)
{
    return {std::forward<CompletionToken>(token)};
}

namespace detail {

struct to_outcome {
    using signature = void(outcome<actor_token>);
    template <class Handler>
    static void complete(Handler& h, boost::system::error_code ec, const diagnostics& d, actor_token t)
    {
        if (ec)
            std::move(h)(outcome<actor_token>(boost::system::in_place_error, failure{ec, d}));
        else
            std::move(h)(outcome<actor_token>(std::move(t)));
    }
};

struct to_exception {
    using signature = void(std::exception_ptr, actor_token);
    template <class Handler>
    static void complete(Handler& h, boost::system::error_code ec, const diagnostics& d, actor_token t)
    {
        std::exception_ptr ep;
        if (ec)
            ep = std::make_exception_ptr(error_with_diagnostics(ec, d));
        std::move(h)(std::move(ep), std::move(t));
    }
};

/// Wraps the inner handler: owns the diagnostics when the caller gave none.
template <class Handler, class Policy>
struct diagnostics_handler {
    Handler handler;
    std::unique_ptr<diagnostics> owned;
    diagnostics* diag;

    void operator()(boost::system::error_code ec, actor_token t)
    {
        auto owned_diag = std::move(owned); // freed when we return, after the handler was called
        Policy::complete(handler, ec, *diag, std::move(t));
    }
};

template <class Initiation, class Policy>
struct diagnostics_initiation {
    Initiation initiation;

    template <class Handler>
    void operator()(Handler&& handler, http_client_options options, diagnostics* user_diag)
    {
        std::unique_ptr<diagnostics> owned;
        diagnostics* diag = user_diag;
        if (!diag) {
            owned = std::make_unique<diagnostics>();
            diag = owned.get();
        }
        std::move(initiation)(
            diagnostics_handler<std::decay_t<Handler>, Policy>{std::forward<Handler>(handler), std::move(owned), diag},
            std::move(options), diag);
    }
};

template <class Policy, class Inner, class Initiation, class... Args>
auto adapt_initiate(Initiation&& init, Inner&& inner, Args&&... args)
    -> decltype(boost::asio::async_initiate<std::decay_t<Inner>, typename Policy::signature>(
        std::declval<diagnostics_initiation<std::decay_t<Initiation>, Policy>>(), inner,
        std::forward<Args>(args)...))
{
    return boost::asio::async_initiate<std::decay_t<Inner>, typename Policy::signature>(
        diagnostics_initiation<std::decay_t<Initiation>, Policy>{std::forward<Initiation>(init)}, inner,
        std::forward<Args>(args)...);
}

} // namespace detail
} // namespace tetrapak

namespace boost::asio {

template <class Inner>
struct async_result<::tetrapak::as_outcome_t<Inner>, void(boost::system::error_code, ::tetrapak::actor_token)> {
    template <class Initiation, class RawToken, class... Args>
    static auto initiate(Initiation&& init, RawToken&& token, Args&&... args)
        -> decltype(::tetrapak::detail::adapt_initiate<::tetrapak::detail::to_outcome>(
            std::forward<Initiation>(init), std::forward<RawToken>(token).token, std::forward<Args>(args)...))
    {
        return ::tetrapak::detail::adapt_initiate<::tetrapak::detail::to_outcome>(
            std::forward<Initiation>(init), std::forward<RawToken>(token).token, std::forward<Args>(args)...);
    }
};

template <class Inner>
struct async_result<::tetrapak::with_diagnostics_t<Inner>,
                    void(boost::system::error_code, ::tetrapak::actor_token)> {
    template <class Initiation, class RawToken, class... Args>
    static auto initiate(Initiation&& init, RawToken&& token, Args&&... args)
        -> decltype(::tetrapak::detail::adapt_initiate<::tetrapak::detail::to_exception>(
            std::forward<Initiation>(init), std::forward<RawToken>(token).token, std::forward<Args>(args)...))
    {
        return ::tetrapak::detail::adapt_initiate<::tetrapak::detail::to_exception>(
            std::forward<Initiation>(init), std::forward<RawToken>(token).token, std::forward<Args>(args)...);
    }
};

template <template <class, class> class Associator, class Handler, class Policy, class DefaultCandidate>
struct associator<Associator, ::tetrapak::detail::diagnostics_handler<Handler, Policy>, DefaultCandidate>
    : Associator<Handler, DefaultCandidate> {
    static typename Associator<Handler, DefaultCandidate>::type
    get(const ::tetrapak::detail::diagnostics_handler<Handler, Policy>& h) noexcept
    {
        return Associator<Handler, DefaultCandidate>::get(h.handler);
    }
    static auto get(const ::tetrapak::detail::diagnostics_handler<Handler, Policy>& h,
                    const DefaultCandidate& c) noexcept -> decltype(Associator<Handler, DefaultCandidate>::get(h.handler, c))
    {
        return Associator<Handler, DefaultCandidate>::get(h.handler, c);
    }
};

} // namespace boost::asio

#endif
