// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_TRANSPORT_TLS_CONTEXT_HPP
#define TETRAPAK_LIB_TRANSPORT_TLS_CONTEXT_HPP

#include <tetrapak/config.hpp>

#include <boost/asio/ssl/context.hpp>

#include <memory>

namespace tetrapak::detail {

/// A client TLS context from `s`: TLS 1.2 or later, the configured CAs (or the
/// system's), the client certificate for mutual TLS (RFC 8705).
/// @throws error_with_diagnostics naming the setting that cannot be used.
std::unique_ptr<boost::asio::ssl::context> make_tls_context(const tls_settings& s);

} // namespace tetrapak::detail

#endif
