// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_TEST_CONFIG_HPP
#define TETRAPAK_TEST_CONFIG_HPP

#include "oidc_server.hpp"

#include <tetrapak/config.hpp>

namespace tetrapak::test {

/// basic-client against `server`, trusting the generated test CA.
inline auth_config basic_client(const oidc_server& server)
{
    auth_config c;
    c.client_id = "basic-client";
    c.client_secret = "basic-secret";
    c.token_endpoint = server.token_endpoint();
    c.tls.ca_file = oidc_server::ca_file();
    return c;
}

/// A client for an in-process fault server at `url`, trusting the test CA.
/// One attempt per call: each fault is seen as it is (retry tests opt in).
inline auth_config fault_client(const std::string& url)
{
    auth_config c;
    c.retry.max_attempts = 1;
    c.client_id = "id";
    c.client_secret = "secret";
    c.token_endpoint = url;
    c.tls.ca_file = oidc_server::ca_file();
    return c;
}

} // namespace tetrapak::test

#endif
