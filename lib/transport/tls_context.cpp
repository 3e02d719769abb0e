// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "tls_context.hpp"

#include <tetrapak/error.hpp>
#include <tetrapak/outcome.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace tetrapak::detail {

namespace {
/// OpenSSL decodes a certificate's extensions (its key identifiers among them)
/// the first time a verification needs them, and concurrent handshakes that
/// check the same trusted CA race on that lazy cache (ThreadSanitizer shows one
/// thread writing the CA's subject key identifier while another compares it).
/// Decoding them here, before any handshake, leaves the handshakes only reading.
/// Certificates a CA directory (`ca_path`) supplies later are loaded per lookup.
void cache_certificate_extensions(X509_STORE* store)
{
    if (!store)
        return;
    STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store);
    for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i)
        if (X509* cert = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i)))
            X509_check_purpose(cert, -1, 0);
}
} // namespace

std::unique_ptr<boost::asio::ssl::context> make_tls_context(const tls_settings& s)
{
    namespace ssl = boost::asio::ssl;
    using access = diagnostics_access;
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    boost::system::error_code ec;
    diagnostics diag;
    if (!s.ca_file.empty()) {
        ctx->load_verify_file(s.ca_file, ec);
        if (ec)
            access::client_message(diag) = "tls.ca_file could not be loaded";
    }
    if (!ec && !s.ca_path.empty()) {
        ctx->add_verify_path(s.ca_path, ec);
        if (ec)
            access::client_message(diag) = "tls.ca_path could not be used";
    }
    if (!ec && s.ca_file.empty() && s.ca_path.empty())
        ctx->set_default_verify_paths(ec);
    if (ec)
        throw error_with_diagnostics(ec, std::move(diag));
    cache_certificate_extensions(SSL_CTX_get_cert_store(ctx->native_handle()));
    if (!s.client_certificate_file.empty()) {
        ctx->use_certificate_chain_file(s.client_certificate_file, ec);
        if (!ec)
            ctx->use_private_key_file(s.client_key_file.empty() ? s.client_certificate_file : s.client_key_file,
                                      ssl::context::pem, ec);
        if (ec) {
            access::client_message(diag) =
                "tls.client_certificate_file / tls.client_key_file could not be loaded or do not match";
            throw error_with_diagnostics(error::key_load_failed, std::move(diag));
        }
    }
    return ctx;
}

} // namespace tetrapak::detail
