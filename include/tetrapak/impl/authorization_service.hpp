// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_IMPL_AUTHORIZATION_SERVICE_HPP
#define TETRAPAK_IMPL_AUTHORIZATION_SERVICE_HPP

#include <tetrapak/authorization_service.hpp>

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/execution/blocking.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/require.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <type_traits>
#include <utility>

namespace tetrapak {

namespace detail {

/// Installed in the cancellation slot of a call served from the cache: a
/// signal that arrives before the handler ran still wins (hit_completion checks).
struct hit_cancellation {
    std::atomic<bool> cancelled{false};
    void operator()(boost::asio::cancellation_type type) noexcept
    {
        using ct = boost::asio::cancellation_type;
        if ((type & (ct::terminal | ct::partial | ct::total)) != ct::none)
            cancelled.store(true, std::memory_order_release);
    }
};

/// The completion of a cache hit, posted to the handler's associated
/// executor: no type erasure, no allocation beyond the post's own (which uses
/// the handler's associated allocator).
template <class Handler>
struct hit_completion {
    Handler handler;
    actor_token token;
    diagnostics* diag;
    hit_cancellation* cancel; // in the handler's slot; null when the slot is not connected

    using allocator_type = boost::asio::associated_allocator_t<Handler>;
    allocator_type get_allocator() const noexcept { return boost::asio::get_associated_allocator(handler); }

    void operator()()
    {
        boost::system::error_code ec;
        if (cancel) {
            const bool cancelled = cancel->cancelled.load(std::memory_order_acquire);
            boost::asio::get_associated_cancellation_slot(handler).clear();
            if (cancelled) {
                ec = boost::asio::error::operation_aborted;
                token = actor_token();
            }
        }
        if (diag)
            diag->clear();
        std::move(handler)(ec, std::move(token));
    }
};

/// The type of the execution context behind `Executor` (void: it has none).
template <class Executor, class = void>
struct context_of {
    using type = void;
};
template <class Executor>
struct context_of<Executor, std::enable_if_t<boost::asio::can_query<const Executor&,
                                                                    boost::asio::execution::context_t>::value>> {
    using type = std::remove_cvref_t<
        typename boost::asio::query_result<const Executor&, boost::asio::execution::context_t>::type>;
};

/// Executors a hit may be posted to directly: those that name their context's
/// type (io_context, thread_pool, their strands) and any_io_executor. Not
/// those whose context is a bare execution_context: use_future's (posting to
/// it runs the handler on Asio's hidden system thread pool), any_completion_executor.
template <class Executor>
inline constexpr bool posts_to_io_context_v =
    std::is_same_v<Executor, boost::asio::any_io_executor> ||
    std::is_same_v<Executor, boost::asio::strand<boost::asio::any_io_executor>> ||
    !(std::is_same_v<typename context_of<Executor>::type, boost::asio::execution_context> ||
      std::is_void_v<typename context_of<Executor>::type>);

/// Completes a cache hit through the handler's associated executor (never inline).
template <class Handler>
void complete_hit(Handler&& handler, actor_token token, diagnostics* diag,
                  const boost::asio::any_io_executor& fallback)
{
    using handler_t = std::decay_t<Handler>;
    using executor_t = boost::asio::associated_executor_t<handler_t, boost::asio::any_io_executor>;
    auto ex = boost::asio::get_associated_executor(handler, fallback);
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    hit_cancellation* cancel = slot.is_connected() ? &slot.template emplace<hit_cancellation>() : nullptr;
    hit_completion<handler_t> op{std::forward<Handler>(handler), std::move(token), diag, cancel};
    if constexpr (boost::asio::can_require<const executor_t&, boost::asio::execution::blocking_t::never_t>::value &&
                  posts_to_io_context_v<executor_t>) {
        boost::asio::post(ex, std::move(op)); // one hop, straight to the handler's executor
    } else {
        // As an Asio I/O object does: through the service's executor, then
        // dispatched to the handler's, whose work is tracked meanwhile.
        boost::asio::post(fallback, boost::asio::bind_executor(ex, std::move(op)));
    }
}

} // namespace detail

/// The initiation of async_authorize. Its arguments are always
/// `(handler, http_client_options, diagnostics*)`; the completion adapters in
/// completion.hpp rely on that.
struct authorization_service::initiate_authorize {
    std::shared_ptr<detail::service_impl> impl;

    using executor_type = authorization_service::executor_type;
    executor_type get_executor() const noexcept { return authorization_service::executor_of(*impl); }

    template <class Handler>
    void operator()(Handler&& handler, http_client_options options, diagnostics* diag) const
    {
        actor_token hit;
        auto pending = authorization_service::lookup(impl, options, hit);
        if (!pending) {
            detail::complete_hit(std::forward<Handler>(handler), std::move(hit), diag,
                                 authorization_service::executor_of(*impl));
            return;
        }
        authorization_service::initiate_pending(
            std::move(pending), diag,
            boost::asio::any_completion_handler<completion_signature>(std::forward<Handler>(handler)));
    }
};

template <boost::asio::completion_token_for<authorization_service::completion_signature> CompletionToken>
auto authorization_service::async_authorize(http_client_options options, CompletionToken&& token)
{
    return boost::asio::async_initiate<CompletionToken, completion_signature>(
        initiate_authorize{impl_}, token, std::move(options), static_cast<diagnostics*>(nullptr));
}

template <boost::asio::completion_token_for<authorization_service::completion_signature> CompletionToken>
auto authorization_service::async_authorize(http_client_options options, diagnostics& diag,
                                            CompletionToken&& token)
{
    return boost::asio::async_initiate<CompletionToken, completion_signature>(
        initiate_authorize{impl_}, token, std::move(options), &diag);
}

} // namespace tetrapak

#endif
