// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include <tetrapak/actor_token.hpp>
#include <tetrapak/protocol.hpp>

#include "detail/sha256.hpp"
#include "detail/text.hpp"
#include "detail/token_state.hpp"

#include <boost/json/value.hpp>

#include <cstdio>
#include <ctime>
#include <new>
#include <ostream>

namespace tetrapak {
namespace {

const boost::json::object empty_claims;

std::shared_ptr<detail::token_state> make_state(actor_token::fields f)
{
    auto st = std::make_shared<detail::token_state>();
    st->f = std::move(f);
    if (auto claims = decode_jwt_payload(st->f.value)) {
        st->claims = std::move(*claims);
        st->jwt = true;
    }
    if (!st->f.value.empty())
        st->sha256 = detail::sha256_of(st->f.value);
    return st;
}

const std::array<unsigned char, 32> zero_digest{};

} // namespace

namespace detail {
const std::array<unsigned char, 32>& token_digest(const actor_token& t) noexcept
{
    return t.state_ ? t.state_->sha256 : zero_digest;
}

actor_token unshared_copy(const actor_token& t)
{
    actor_token copy;
    if (t.state_)
        copy.state_ = std::make_shared<const token_state>(*t.state_);
    return copy;
}
} // namespace detail

actor_token::actor_token(std::string raw)
{
    std::string_view v = raw;
    if (v.size() > 7 && detail::iequals(v.substr(0, 7), "bearer "))
        raw.erase(0, 7);
    fields f;
    f.value = std::move(raw);
    auto st = make_state(std::move(f));
    st->f.expires_at = tetrapak::jwt_expiry(st->claims);
    state_ = std::move(st);
}

actor_token::actor_token(fields f) : state_(make_state(std::move(f))) {}

bool actor_token::empty() const noexcept { return !state_ || state_->f.value.empty(); }

std::string_view actor_token::value() const noexcept { return state_ ? std::string_view(state_->f.value) : std::string_view(); }

std::string_view actor_token::token_type() const noexcept
{
    return state_ ? std::string_view(state_->f.token_type) : std::string_view();
}

std::optional<actor_token::clock::time_point> actor_token::expires_at() const noexcept
{
    return state_ ? state_->f.expires_at : std::nullopt;
}

std::span<const std::string> actor_token::scope() const noexcept
{
    return state_ ? std::span<const std::string>(state_->f.scope) : std::span<const std::string>();
}

std::string_view actor_token::issued_token_type() const noexcept
{
    return state_ ? std::string_view(state_->f.issued_token_type) : std::string_view();
}

std::optional<std::string_view> actor_token::refresh_token() const noexcept
{
    if (!state_ || !state_->f.refresh_token)
        return std::nullopt;
    return std::string_view(*state_->f.refresh_token);
}

actor_token::clock::time_point actor_token::issued_at() const noexcept
{
    return state_ ? state_->f.issued_at : clock::time_point{};
}

bool actor_token::is_jwt() const noexcept { return state_ && state_->jwt; }

const boost::json::object& actor_token::claims() const noexcept { return state_ ? state_->claims : empty_claims; }

std::optional<std::string_view> actor_token::string_claim(std::string_view name) const noexcept
{
    auto& c = claims();
    auto it = c.find(name);
    if (it == c.end() || !it->value().is_string())
        return std::nullopt;
    return std::string_view(it->value().get_string());
}

std::optional<actor_token::clock::time_point> actor_token::jwt_expiry() const noexcept { return tetrapak::jwt_expiry(claims()); }

bool actor_token::is_expired(clock::time_point now) const noexcept
{
    auto e = expires_at();
    return e && *e <= now;
}

std::string actor_token::authorization_header() const
{
    // RFC 9449 §7.1: a DPoP-bound token goes with its own scheme (and a proof).
    std::string s = is_dpop_bound() ? "DPoP " : "Bearer ";
    s += value();
    return s;
}

bool actor_token::is_dpop_bound() const noexcept { return token_type() == "DPoP"; }

std::string actor_token::fingerprint() const
{
    const auto& md = detail::token_digest(*this);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (int i = 0; i < 4; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 15];
    }
    return out;
}

bool operator==(const actor_token& a, const actor_token& b) noexcept
{
    if (a.state_ == b.state_)
        return true;
    if (a.empty() || b.empty())
        return a.empty() && b.empty();
    const auto& x = a.state_->f;
    const auto& y = b.state_->f;
    return x.value == y.value && x.token_type == y.token_type && x.expires_at == y.expires_at &&
           x.scope == y.scope && x.issued_token_type == y.issued_token_type && x.refresh_token == y.refresh_token;
}

std::ostream& operator<<(std::ostream& os, const actor_token& t)
{
    if (t.empty())
        return os << "actor_token{empty}";
    os << "actor_token{type=" << t.token_type() << ", length=" << t.value().size() << ", sha256=" << t.fingerprint();
    if (t.is_jwt())
        os << ", jwt";
    if (auto e = t.expires_at()) {
        std::time_t tt = actor_token::clock::to_time_t(*e);
        std::tm tm{};
        gmtime_r(&tt, &tm);
        char buf[32];
        std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
        os << ", expires_at=" << buf;
    }
    if (!t.scope().empty()) {
        os << ", scope=\"";
        bool first = true;
        for (auto& s : t.scope()) {
            os << (first ? "" : " ") << s;
            first = false;
        }
        os << '"';
    }
    if (!t.issued_token_type().empty())
        os << ", issued_token_type=" << t.issued_token_type();
    if (t.refresh_token())
        os << ", refresh_token=<redacted>";
    return os << '}';
}

} // namespace tetrapak
