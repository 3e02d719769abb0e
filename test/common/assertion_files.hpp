// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_TEST_ASSERTION_FILES_HPP
#define TETRAPAK_TEST_ASSERTION_FILES_HPP

// Assertion files as platforms write them (in place, or a new file renamed
// over the old one as Kubernetes projected volumes do), with control over the
// file's modification time, and JWTs to put in them.

#include <tetrapak/signing_key.hpp>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <fcntl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace tetrapak::test {

/// A fresh directory, removed with its files when the object goes.
class temp_dir {
public:
    temp_dir()
    {
        std::string pattern = (std::filesystem::temp_directory_path() / "tetrapak-assertion-XXXXXX").string();
        BOOST_TEST_REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~temp_dir()
    {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

private:
    std::string path_;
};

/// Writes `content` into `path` in place (an existing file keeps its inode).
inline void write_file(const std::string& path, std::string_view content)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.close();
    BOOST_TEST_REQUIRE(out.good(), "cannot write " << path);
}

/// A file in a fresh directory, holding `content` from the start.
struct temp_file {
    explicit temp_file(std::string_view content, std::string_view name = "token") : path(dir.file(name))
    {
        write_file(path, content);
    }
    temp_dir dir;
    const std::string path;
};

inline timespec mtime_of(const std::string& path)
{
    struct stat st {};
    BOOST_TEST_REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mtim;
}

inline void set_mtime(const std::string& path, timespec t)
{
    const timespec times[2] = {t, t};
    BOOST_TEST_REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

inline ino_t inode_of(const std::string& path)
{
    struct stat st {};
    BOOST_TEST_REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_ino;
}

/// Writes a new file and renames it over `path` (a new inode), the way a
/// projected volume rotates a token; with `same_mtime`, the new file gets the
/// old one's modification time first.
inline void replace_file(const std::string& path, std::string_view content, bool same_mtime = false)
{
    const std::string tmp = path + ".new";
    write_file(tmp, content);
    if (same_mtime)
        set_mtime(tmp, mtime_of(path));
    BOOST_TEST_REQUIRE(std::rename(tmp.c_str(), path.c_str()) == 0);
}

/// Seconds since the epoch, as JWT NumericDate.
inline std::int64_t numeric_date(std::chrono::system_clock::time_point t)
{
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

/// A JWS compact JWT with `claims` and a signature nobody checks (for the client side only).
inline std::string unsigned_jwt(const boost::json::object& claims)
{
    return base64url_encode(R"({"alg":"ES256","typ":"JWT"})") + "." + base64url_encode(boost::json::serialize(claims)) +
           "." + base64url_encode("not-a-real-signature");
}

/// A JWT with `claims` signed with `key` (a platform's or a client's).
inline std::string signed_jwt(const signing_key& key, const boost::json::object& claims)
{
    boost::json::object header{{"alg", key.algorithm()}, {"typ", "JWT"}};
    std::string input = base64url_encode(boost::json::serialize(header));
    input += '.';
    input += base64url_encode(boost::json::serialize(claims));
    auto signature = key.sign(input);
    BOOST_TEST_REQUIRE(signature.has_value());
    input += '.';
    input += base64url_encode(*signature);
    return input;
}

} // namespace tetrapak::test

#endif
