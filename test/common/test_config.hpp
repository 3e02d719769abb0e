// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_TEST_CONFIG_HPP
#define TETRAPAK_TEST_CONFIG_HPP

#include "oidc_server.hpp"

#include <tetrapak/config.hpp>

#include <memory>
#include <string>

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

/// dpop-client (whose tokens must be DPoP-bound) against `server` with DPoP
/// on (`key` null: the service's own key), asking for the JWT audience
/// urn:tetrapak:test-api, whose tokens carry cnf.
inline auth_config dpop_client(const oidc_server& server, std::shared_ptr<const dpop_key> key = nullptr)
{
    auto c = basic_client(server);
    c.client_id = "dpop-client";
    c.client_secret = "dpop-secret";
    c.resource = "urn:tetrapak:test-api";
    c.dpop.enabled = true;
    c.dpop.key = std::move(key);
    return c;
}

/// A client authenticated by mutual TLS with the certificate pair `name`.pem
/// and `name`.key from cert_dir().
inline auth_config mtls_client(const oidc_server& server, std::string client_id, const std::string& name,
                               client_auth_method method = client_auth_method::tls_client_auth)
{
    auto c = basic_client(server);
    c.client_id = std::move(client_id);
    c.client_secret = "";
    c.auth_method = method;
    c.tls.client_certificate_file = cert_dir() + "/" + name + ".pem";
    c.tls.client_key_file = cert_dir() + "/" + name + ".key";
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
