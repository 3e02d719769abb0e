// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_VERSION_HPP
#define TETRAPAK_VERSION_HPP

/// \file
/// The library's version. CMakeLists.txt reads its project version from
/// here, so the package, the shared library's name and this header agree.

/// The major version: changes break the API.
#define TETRAPAK_VERSION_MAJOR 0
/// The minor version: additions.
#define TETRAPAK_VERSION_MINOR 1
/// The patch version: fixes.
#define TETRAPAK_VERSION_PATCH 0
/// MAJOR * 10000 + MINOR * 100 + PATCH, as in `#if TETRAPAK_VERSION >= 10200` (1.2.0 or later).
#define TETRAPAK_VERSION (TETRAPAK_VERSION_MAJOR * 10000 + TETRAPAK_VERSION_MINOR * 100 + TETRAPAK_VERSION_PATCH)
/// "MAJOR.MINOR.PATCH".
#define TETRAPAK_VERSION_STRING                                                                                        \
    TETRAPAK_VERSION_STRINGIZE(TETRAPAK_VERSION_MAJOR)                                                                 \
    "." TETRAPAK_VERSION_STRINGIZE(TETRAPAK_VERSION_MINOR) "." TETRAPAK_VERSION_STRINGIZE(TETRAPAK_VERSION_PATCH)

/// \cond INTERNAL
#define TETRAPAK_VERSION_STRINGIZE_(x) #x
#define TETRAPAK_VERSION_STRINGIZE(x) TETRAPAK_VERSION_STRINGIZE_(x)
/// \endcond

#endif
