// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_HPP
#define TETRAPAK_HPP

#include <tetrapak/actor_token.hpp>
#include <tetrapak/authorization_service.hpp>
#include <tetrapak/authorized_client.hpp>
#include <tetrapak/completion.hpp>
#include <tetrapak/config.hpp>
#include <tetrapak/diagnostics.hpp>
#include <tetrapak/dpop.hpp>
#include <tetrapak/error.hpp>
#include <tetrapak/http_client_options.hpp>
#include <tetrapak/incoming.hpp>
#include <tetrapak/metrics.hpp>
#include <tetrapak/outcome.hpp>
#include <tetrapak/protocol.hpp>
#include <tetrapak/settings.hpp>
#include <tetrapak/signing_key.hpp>
#include <tetrapak/trace.hpp>
#include <tetrapak/version.hpp>

#endif
