// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_FLEET_ENVELOPE_HPP
#define TETRAPAK_LIB_FLEET_ENVELOPE_HPP

// Encrypted envelopes for the values of a cache shared by the replicas of a
// service (AES-256-GCM), and the key ring they are sealed and opened with.
// Pure: no I/O but from_file, no clock, no shared state. A ring is immutable,
// so one ring serves every thread; each call has its own cipher context.
//
// Envelope layout, binary:
//   version (1 byte, = 1) | id length L (1 byte, 1..64) | key id (L bytes)
//   | nonce (12 random bytes) | ciphertext (as long as the plaintext) | GCM tag (16 bytes)
// The GCM additional data is the caller's `aad` (the cache key) followed by
// the header (version, L, key id): a value moved to another cache key, or
// relabelled with another key id, does not authenticate.

#include <tetrapak/diagnostics.hpp>

#include <boost/system/result.hpp>

#include <array>
#include <cstddef>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace tetrapak::detail {

inline constexpr unsigned char envelope_version = 1;
inline constexpr std::size_t envelope_key_size = 32;
inline constexpr std::size_t envelope_nonce_size = 12;
inline constexpr std::size_t envelope_tag_size = 16;
inline constexpr std::size_t max_envelope_key_id = 64;

using envelope_nonce = std::array<unsigned char, envelope_nonce_size>;

/// One AES-256 key and the id envelopes name it by. A secret: there is no
/// operator<<, and nothing in this module ever prints `bytes`.
struct envelope_key {
    std::string id; ///< 1..64 characters of [A-Za-z0-9._-]
    std::array<unsigned char, envelope_key_size> bytes{};

    // Why: the key should not outlive its owner in freed memory. (Declaring
    // only a destructor keeps this an aggregate; moves become copies, which
    // are wiped in turn.)
    ~envelope_key();
};

/// Whether `id` can name a key: 1..64 characters of [A-Za-z0-9._-].
bool valid_envelope_key_id(std::string_view id) noexcept;

/// The keys a service seals and opens envelopes with. The first key is the
/// current one and seals; every key opens (rotation: put the new key first
/// and keep the old ones until their envelopes have expired).
class envelope_keyring {
public:
    /// Throws std::invalid_argument when `keys` is empty, an id is not valid,
    /// or two keys share an id (the message names keys by position only).
    explicit envelope_keyring(std::vector<envelope_key> keys);

    /// Reads `id:base64key[,id:base64key...]`: each key is standard base64
    /// (44 characters with its '=') of exactly 32 bytes, e.g. from
    /// `openssl rand -base64 32`; white space around entries is allowed.
    /// Fails with error::config_invalid_value, the problem in
    /// diag.client_message() (entries named by position; never key text).
    static boost::system::result<envelope_keyring> from_text(std::string_view spec, diagnostics& diag);

    /// from_text on the content of the file at `path` (a secret: never
    /// echoed). error::key_load_failed, naming the path, when the file cannot
    /// be read or is larger than 64 KiB.
    static boost::system::result<envelope_keyring> from_file(const std::string& path, diagnostics& diag);

    /// The key that seals.
    const envelope_key& current() const noexcept { return keys_.front(); }
    /// The key named `id`, or nullptr.
    const envelope_key* find(std::string_view id) const noexcept;
    std::size_t size() const noexcept { return keys_.size(); }

private:
    std::vector<envelope_key> keys_;
};

/// The envelope of `plaintext` (any bytes) under the ring's current key, with
/// a fresh random nonce, bound to `aad` (the cache key). Throws
/// std::runtime_error only if OpenSSL itself fails (no entropy source).
std::string seal(const envelope_keyring& ring, std::string_view plaintext, std::string_view aad);

/// seal with a given nonce. For known-answer tests only: a nonce used twice
/// under one key gives away the GCM authentication key.
std::string seal_with_nonce(const envelope_keyring& ring, std::string_view plaintext, std::string_view aad,
                            const envelope_nonce& nonce);

/// Why an envelope was refused. Every refusal means: ignore the value, count
/// it, and fetch afresh.
enum class open_failure {
    malformed,     ///< too short, another version, or a key id that is not valid
    unknown_key,   ///< the key id is not in the ring (retired, or from another ring)
    not_authentic, ///< the GCM tag does not check: tampered bytes, or another aad
};

/// "malformed", "unknown_key" or "not_authentic" (for logs and metric labels).
std::string_view name_of(open_failure f) noexcept;
std::ostream& operator<<(std::ostream& os, open_failure f);

/// The plaintext, or why there is none. Check has_value(), then use
/// operator*: value() does not compile, on purpose (a refusal is expected
/// input, not an exception).
using open_result = boost::system::result<std::string, open_failure>;

/// The plaintext of `envelope` if it was sealed for `aad` by a key of `ring`
/// and is intact. Never throws for bad input and never returns part of a
/// plaintext; throws std::runtime_error only if OpenSSL itself fails.
open_result open(const envelope_keyring& ring, std::string_view envelope, std::string_view aad);

} // namespace tetrapak::detail

#endif
