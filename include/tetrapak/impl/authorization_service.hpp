// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_IMPL_AUTHORIZATION_SERVICE_HPP
#define TETRAPAK_IMPL_AUTHORIZATION_SERVICE_HPP

#include <tetrapak/authorization_service.hpp>

#include <utility>

namespace tetrapak {

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
        authorization_service::initiate(
            impl, std::move(options), diag,
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
