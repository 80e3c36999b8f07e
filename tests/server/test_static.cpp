// The static-file handler through taut::testing, on a temporary directory: serving, types,
// validators and conditional requests, ranges, directories, and every way out of the root
// (dot segments, encoded slashes, NUL, symlinks), with openat2 and with the fallback walk.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../transport/privileges.hpp"
#include "taut/date_cache.hpp"
#include "taut/mux.hpp"
#include "taut/static_files.hpp"
#include "taut/testing.hpp"

namespace {

namespace fs = std::filesystem;
using taut::testing::client;
using taut::testing::request;

const std::string secret = "TOP-SECRET-OUTSIDE-THE-ROOT";

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

/// Sets the modification time of `path` (seconds and nanoseconds since the epoch).
void set_mtime(const fs::path& path, std::chrono::system_clock::time_point when) {
  const auto since = when.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since);
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(since - seconds);
  const std::array<timespec, 2> times{
      {{seconds.count(), nanos.count()}, {seconds.count(), nanos.count()}}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times.data(), 0), 0);
}

/// A temporary tree:
///   <base>/secret.txt                 outside the root
///   <base>/outside/inner.txt          outside the root
///   <base>/root/hello.txt             "hello, static"
///   <base>/root/digits.bin            "0123456789"
///   <base>/root/page.html, style.css, data.json, empty.txt, NOEXT
///   <base>/root/docs/index.html       "docs index"
///   <base>/root/noindex/file.txt
///   <base>/root/.env                  a dotfile
///   <base>/root/link-inside           -> hello.txt
///   <base>/root/link-abs-inside       -> <base>/root/hello.txt (absolute)
///   <base>/root/link-out              -> ../secret.txt
///   <base>/root/link-abs-out          -> <base>/secret.txt
///   <base>/root/dirlink-out           -> ../outside
///   <base>/root/fifo                  a named pipe
class StaticFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/taut-static-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    base = pattern;
    root = base / "root";
    fs::create_directories(root / "docs");
    fs::create_directories(root / "noindex");
    fs::create_directories(base / "outside");
    write_file(base / "secret.txt", secret);
    write_file(base / "outside" / "inner.txt", secret);
    write_file(root / "hello.txt", "hello, static");
    write_file(root / "digits.bin", "0123456789");
    write_file(root / "page.html", "<p>hi</p>");
    write_file(root / "style.css", "p{}");
    write_file(root / "data.json", "{}");
    write_file(root / "empty.txt", "");
    write_file(root / "NOEXT", "x");
    write_file(root / "docs" / "index.html", "docs index");
    write_file(root / "noindex" / "file.txt", "f");
    write_file(root / ".env", "PASSWORD=1");
    fs::create_symlink("hello.txt", root / "link-inside");
    fs::create_symlink(root / "hello.txt", root / "link-abs-inside");
    fs::create_symlink("../secret.txt", root / "link-out");
    fs::create_symlink(base / "secret.txt", root / "link-abs-out");
    fs::create_symlink("../outside", root / "dirlink-out");
    ASSERT_EQ(mkfifo((root / "fifo").c_str(), 0600), 0);
    app.handle("GET /static/{path...}", taut::static_files(root.string()));
    app.handle("/all/", taut::static_files(root.string()));
  }
  void TearDown() override {
    taut::detail::static_files_use_openat2(true);
    fs::remove_all(base);
  }

  /// Asserts that nothing outside the root leaked into the response.
  static void expect_no_leak(const taut::testing::response& r, const std::string& target) {
    EXPECT_NE(r.status, 200) << target;
    EXPECT_EQ(r.body.find(secret), std::string::npos) << target;
  }

  fs::path base;
  fs::path root;
  taut::mux app;
};

TEST_F(StaticFiles, ServesAFileWithTypeLengthAndValidators) {
  client c(app);
  const auto r = c.get("/static/hello.txt");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello, static");
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r.header("Content-Length"), "13");
  EXPECT_EQ(r.header("Accept-Ranges"), "bytes");
  EXPECT_FALSE(r.header("ETag").empty());
  struct stat st {};
  ASSERT_EQ(::stat((root / "hello.txt").c_str(), &st), 0);
  char date[30];
  taut::date_cache::format(st.st_mtim.tv_sec, date);
  EXPECT_EQ(r.header("Last-Modified"), std::string(date, 29));
}

TEST_F(StaticFiles, ContentTypesByExtension) {
  client c(app);
  EXPECT_EQ(c.get("/static/page.html").header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(c.get("/static/style.css").header("Content-Type"), "text/css; charset=utf-8");
  EXPECT_EQ(c.get("/static/data.json").header("Content-Type"), "application/json");
  EXPECT_EQ(c.get("/static/NOEXT").header("Content-Type"), "application/octet-stream");
  EXPECT_EQ(c.get("/static/digits.bin").header("Content-Type"), "application/octet-stream");
  EXPECT_EQ(taut::content_type_for("a/b/PIC.JPG"), "image/jpeg");
  EXPECT_EQ(taut::content_type_for("x.tar.gz"), "application/gzip");
  EXPECT_EQ(taut::content_type_for(".bashrc"), "application/octet-stream");
  EXPECT_EQ(taut::content_type_for("m.wasm"), "application/wasm");
}

TEST_F(StaticFiles, HeadSendsHeadersOnly) {
  client c(app);
  const auto r = c.head("/static/hello.txt");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Length"), "13");
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(c.get("/static/digits.bin").body, "0123456789");  // still in step
}

TEST_F(StaticFiles, EmptyFile) {
  client c(app);
  const auto r = c.get("/static/empty.txt");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Length"), "0");
  EXPECT_EQ(r.body, "");
}

TEST_F(StaticFiles, OtherMethodsAre405) {
  client c(app);
  const auto r = c.post("/all/hello.txt", "x");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "GET, HEAD");
}

TEST_F(StaticFiles, WholePathWithoutAWildcard) {
  // "/all/" has no named wildcard: the whole path names the file, so root/all/... is looked up.
  fs::create_directories(root / "all");
  write_file(root / "all" / "x.txt", "under all");
  client c(app);
  EXPECT_EQ(c.get("/all/x.txt").body, "under all");
  EXPECT_EQ(c.get("/all/hello.txt").status, 404);
}

TEST_F(StaticFiles, MissingIs404) {
  client c(app);
  EXPECT_EQ(c.get("/static/nope.txt").status, 404);
  EXPECT_EQ(c.get("/static/docs/nope/deeper").status, 404);
  EXPECT_EQ(c.get("/static/hello.txt/").status, 404);
  EXPECT_EQ(c.get("/static/hello.txt/x").status, 404);
}

TEST_F(StaticFiles, DirectoriesRedirectThenServeTheirIndex) {
  client c(app);
  auto r = c.get("/static/docs?v=1");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("Location"), "/static/docs/?v=1");
  r = c.get("/static/docs/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "docs index");
  EXPECT_EQ(r.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(c.get("/static/noindex/").status, 404);  // no listings
  EXPECT_EQ(c.get("/static/").status, 404);          // the root has no index.html
  write_file(root / "index.html", "root index");
  EXPECT_EQ(c.get("/static/").body, "root index");
}

TEST_F(StaticFiles, DotfilesAreHiddenUnlessAllowed) {
  client c(app);
  EXPECT_EQ(c.get("/static/.env").status, 404);
  EXPECT_EQ(c.get("/static/%2eenv").status, 404);
  taut::mux open_app;
  open_app.handle("GET /s/{path...}", taut::static_files(root.string(), {.dotfiles = true}));
  client c2(open_app);
  EXPECT_EQ(c2.get("/s/.env").body, "PASSWORD=1");
}

TEST_F(StaticFiles, FifosAndOtherNonRegularFilesAre404WithoutBlocking) {
  client c(app);
  EXPECT_EQ(c.get("/static/fifo").status, 404);
}

TEST_F(StaticFiles, TraversalAttemptsNeverLeaveTheRoot) {
  client c(app);
  const std::vector<std::string> targets = {
      "/static/../secret.txt",
      "/static/../../secret.txt",
      "/static/%2e%2e/secret.txt",
      "/static/%2E%2E/%2e%2e/secret.txt",
      "/static/..%2fsecret.txt",
      "/static/..%2Fsecret.txt",
      "/static/docs/..%2f..%2fsecret.txt",
      "/static/%2e%2e%2fsecret.txt",
      "/static/..%5csecret.txt",
      "/static/hello.txt%00.png",
      "/static//../secret.txt",
      "/static/./../secret.txt",
      "/static/docs/../../secret.txt",
      "/static/link-out",
      "/static/link-abs-out",
      "/static/dirlink-out/inner.txt",
      "/static/dirlink-out/",
  };
  for (const std::string& target : targets) {
    auto r = c.get(target);
    expect_no_leak(r, target);
    // A redirect must stay inside /static/ or lead to something that is not the secret either.
    if (r.status == 301) {
      const std::string location(r.header("Location"));
      expect_no_leak(c.get(location), target + " -> " + location);
    }
  }
  // The encoded forms are refused outright, not looked up.
  EXPECT_EQ(c.get("/static/..%2fsecret.txt").status, 400);
  EXPECT_EQ(c.get("/static/hello.txt%00").status, 400);
}

TEST_F(StaticFiles, RawTraversalBytesOnTheWire) {
  client c(app);
  c.write_raw("GET /static/../../../../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n");
  const auto r = c.read();
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("Location"), "/etc/passwd");
  EXPECT_EQ(r.body.find("root:"), std::string::npos);
}

TEST_F(StaticFiles, SymlinksInsideTheRootAreFollowed) {
  client c(app);
  EXPECT_EQ(c.get("/static/link-inside").body, "hello, static");
  // Absolute links are refused even when they point inside: the kernel resolves beneath the
  // root's descriptor and an absolute path starts elsewhere.
  EXPECT_EQ(c.get("/static/link-abs-inside").status, 404);
}

TEST_F(StaticFiles, NoSymlinksWhenFollowingIsOff) {
  taut::mux strict;
  strict.handle("GET /s/{path...}", taut::static_files(root.string(), {.follow_symlinks = false}));
  client c(strict);
  EXPECT_EQ(c.get("/s/link-inside").status, 404);
  EXPECT_EQ(c.get("/s/hello.txt").status, 200);
}

TEST_F(StaticFiles, FallbackWalkFollowsNoSymlinkAndStaysInside) {
  taut::detail::static_files_use_openat2(false);
  client c(app);
  EXPECT_EQ(c.get("/static/hello.txt").body, "hello, static");
  EXPECT_EQ(c.get("/static/docs/").body, "docs index");
  EXPECT_EQ(c.get("/static/noindex/file.txt").body, "f");
  EXPECT_EQ(c.get("/static/link-inside").status, 404);
  expect_no_leak(c.get("/static/link-out"), "link-out");
  expect_no_leak(c.get("/static/link-abs-out"), "link-abs-out");
  expect_no_leak(c.get("/static/dirlink-out/inner.txt"), "dirlink-out/inner.txt");
}

TEST_F(StaticFiles, UnreadableFileIs403) {
  write_file(root / "locked.txt", "no");
  fs::permissions(root / "locked.txt", fs::perms::none);
  if (geteuid() != 0) {
    client c(app);
    EXPECT_EQ(c.get("/static/locked.txt").status, 403);
    return;
  }
  // Root reads every file: check as nobody, in a child (the handler opened the root already).
  if (!taut::transport::testing::can_drop_privileges()) GTEST_SKIP() << "cannot become nobody";
  const auto readable = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                        fs::perms::others_read | fs::perms::others_exec;
  fs::permissions(base, readable);
  fs::permissions(root, readable);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (!taut::transport::testing::drop_privileges()) _exit(2);
    client c(app);
    const int locked = c.get("/static/locked.txt").status;
    const int open = c.get("/static/hello.txt").status;
    _exit(locked == 403 && open == 200 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "as nobody: 403 for the unreadable file, 200 for another";
}

TEST_F(StaticFiles, SingleRanges) {
  client c(app);
  const auto range = [&](const std::string& spec) {
    return c.send(request("GET", "/static/digits.bin").header("Range", spec));
  };
  auto r = range("bytes=0-4");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "01234");
  EXPECT_EQ(r.header("Content-Range"), "bytes 0-4/10");
  EXPECT_EQ(r.header("Content-Length"), "5");
  r = range("bytes=7-");
  EXPECT_EQ(r.body, "789");
  EXPECT_EQ(r.header("Content-Range"), "bytes 7-9/10");
  r = range("bytes=-3");
  EXPECT_EQ(r.body, "789");
  r = range("bytes=-30");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "0123456789");
  r = range("bytes=5-999");
  EXPECT_EQ(r.body, "56789");
  EXPECT_EQ(r.header("Content-Range"), "bytes 5-9/10");
  r = range("bytes=9-9");
  EXPECT_EQ(r.body, "9");
}

TEST_F(StaticFiles, UnsatisfiableRangeIs416) {
  client c(app);
  for (const std::string spec : {"bytes=10-", "bytes=10-20", "bytes=-0"}) {
    const auto r = c.send(request("GET", "/static/digits.bin").header("Range", spec));
    EXPECT_EQ(r.status, 416) << spec;
    EXPECT_EQ(r.header("Content-Range"), "bytes */10") << spec;
  }
  for (const std::string spec :
       {"bytes=99999999999999999999-", "bytes=18446744073709551616-18446744073709551617"}) {
    const auto r = c.send(request("GET", "/static/digits.bin").header("Range", spec));
    EXPECT_EQ(r.status, 416) << spec;
    EXPECT_EQ(r.header("Content-Range"), "bytes */10") << spec;
  }
  for (const std::string spec : {"bytes=0-", "bytes=0-0", "bytes=-0"}) {
    const auto empty = c.send(request("GET", "/static/empty.txt").header("Range", spec));
    EXPECT_EQ(empty.status, 416) << spec;
    EXPECT_EQ(empty.header("Content-Range"), "bytes */0") << spec;
  }
}

TEST_F(StaticFiles, AnEmptyFileWithASuffixRangeIsSentWhole) {
  client c(app);
  for (const std::string spec : {"bytes=-5", "bytes=-1", "bytes=-99999999999999999999"}) {
    const auto r = c.send(request("GET", "/static/empty.txt").header("Range", spec));
    EXPECT_EQ(r.status, 200) << spec;
    EXPECT_EQ(r.body, "") << spec;
    EXPECT_EQ(r.header("Content-Length"), "0") << spec;
    EXPECT_FALSE(r.has_header("Content-Range")) << spec;
  }
}

TEST_F(StaticFiles, RangeNumbersPast64BitsAreClamped) {
  client c(app);
  auto r =
      c.send(request("GET", "/static/digits.bin").header("Range", "bytes=7-99999999999999999999"));
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "789");
  EXPECT_EQ(r.header("Content-Range"), "bytes 7-9/10");
  r = c.send(request("GET", "/static/digits.bin").header("Range", "bytes=-99999999999999999999"));
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "0123456789");
  EXPECT_EQ(r.header("Content-Range"), "bytes 0-9/10");
}

TEST_F(StaticFiles, UnusableRangesServeTheWholeFile) {
  client c(app);
  for (const std::string spec :
       {"bytes=5-2", "bytes=0-1,4-5", "items=0-1", "bytes=a-b", "bytes=", "bytes=--1"}) {
    const auto r = c.send(request("GET", "/static/digits.bin").header("Range", spec));
    EXPECT_EQ(r.status, 200) << spec;
    EXPECT_EQ(r.body, "0123456789") << spec;
  }
}

TEST_F(StaticFiles, HeadWithRange) {
  client c(app);
  const auto r = c.send(request("HEAD", "/static/digits.bin").header("Range", "bytes=2-3"));
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.header("Content-Length"), "2");
  EXPECT_EQ(r.body, "");
}

TEST_F(StaticFiles, IfModifiedSinceAnswers304) {
  client c(app);
  const auto first = c.get("/static/hello.txt");
  const std::string modified(first.header("Last-Modified"));
  auto r = c.send(request("GET", "/static/hello.txt").header("If-Modified-Since", modified));
  EXPECT_EQ(r.status, 304);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.header("ETag"), first.header("ETag"));
  EXPECT_FALSE(r.has_header("Content-Length"));
  r = c.send(request("GET", "/static/hello.txt")
                 .header("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"));
  EXPECT_EQ(r.status, 200);
  r = c.send(request("GET", "/static/hello.txt").header("If-Modified-Since", "not a date"));
  EXPECT_EQ(r.status, 200);
  // Far in the future (a clock skew): still not modified since.
  r = c.send(request("GET", "/static/hello.txt")
                 .header("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT"));
  EXPECT_EQ(r.status, 304);
}

TEST_F(StaticFiles, EntityTagConditions) {
  client c(app);
  const std::string etag(c.get("/static/hello.txt").header("ETag"));
  auto r = c.send(request("GET", "/static/hello.txt").header("If-None-Match", etag));
  EXPECT_EQ(r.status, 304);
  r = c.send(request("GET", "/static/hello.txt").header("If-None-Match", "\"x\", W/" + etag));
  EXPECT_EQ(r.status, 304);
  r = c.send(request("GET", "/static/hello.txt").header("If-None-Match", "*"));
  EXPECT_EQ(r.status, 304);
  // If-None-Match wins over If-Modified-Since.
  r = c.send(request("GET", "/static/hello.txt")
                 .header("If-None-Match", "\"other\"")
                 .header("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT"));
  EXPECT_EQ(r.status, 200);
  r = c.send(request("GET", "/static/hello.txt").header("If-Match", "\"other\""));
  EXPECT_EQ(r.status, 412);
  r = c.send(request("GET", "/static/hello.txt").header("If-Match", etag));
  EXPECT_EQ(r.status, 200);
  r = c.send(request("GET", "/static/hello.txt")
                 .header("If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"));
  EXPECT_EQ(r.status, 412);
}

TEST_F(StaticFiles, IfRangeDecidesBetweenPartAndWhole) {
  // Written a while ago: its Last-Modified is a strong validator (see the tests at the end).
  set_mtime(root / "digits.bin", std::chrono::system_clock::now() - std::chrono::hours(1));
  client c(app);
  const auto first = c.get("/static/digits.bin");
  const std::string etag(first.header("ETag"));
  const std::string modified(first.header("Last-Modified"));
  const auto with = [&](const std::string& validator) {
    return c.send(request("GET", "/static/digits.bin")
                      .header("Range", "bytes=0-1")
                      .header("If-Range", validator));
  };
  EXPECT_EQ(with(etag).status, 206);
  EXPECT_EQ(with(modified).status, 206);
  EXPECT_EQ(with("\"stale\"").status, 200);
  EXPECT_EQ(with("W/" + etag).status, 200);
  EXPECT_EQ(with("Sun, 06 Nov 1994 08:49:37 GMT").status, 200);
}

TEST_F(StaticFiles, CacheControlOption) {
  taut::mux cached;
  cached.handle("GET /c/{path...}",
                taut::static_files(root.string(), {.cache_control = "public, max-age=60"}));
  client c(cached);
  EXPECT_EQ(c.get("/c/hello.txt").header("Cache-Control"), "public, max-age=60");
}

TEST_F(StaticFiles, LargeFileThroughSmallPieces) {
  std::string big(3 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  write_file(root / "big.txt", big);
  client c(app, {.read_piece = 1500, .capacity = 64 * 1024});
  const auto r = c.get("/static/big.txt");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), big.size());
  EXPECT_TRUE(r.body == big);
  const auto part =
      c.send(request("GET", "/static/big.txt").header("Range", "bytes=1048576-1048600"));
  EXPECT_EQ(part.body, big.substr(1048576, 25));
}

TEST_F(StaticFiles, RootMustExist) {
  EXPECT_THROW((void)taut::static_files((base / "nope").string()), std::system_error);
  EXPECT_THROW((void)taut::static_files((root / "hello.txt").string()), std::system_error);
}

TEST(HttpDate, ParsesTheThreeFormats) {
  // RFC 9110 section 5.6.7's example, in each format.
  EXPECT_EQ(taut::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(taut::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  EXPECT_EQ(taut::parse_http_date("Sun Nov  6 08:49:37 1994"), 784111777);
  EXPECT_EQ(taut::parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  EXPECT_FALSE(taut::parse_http_date(""));
  EXPECT_FALSE(taut::parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"));
  EXPECT_FALSE(taut::parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"));
  EXPECT_FALSE(taut::parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT"));
  EXPECT_FALSE(taut::parse_http_date("Sun, 6 Nov 1994 08:49:37 GMT"));
  EXPECT_FALSE(taut::parse_http_date("Sat, 31 Feb 2024 10:00:00 GMT"));
  EXPECT_FALSE(taut::parse_http_date("Wednesday, 31-Apr-24 10:00:00 GMT"));
  EXPECT_FALSE(taut::parse_http_date("Wed Feb 29 10:00:00 2023"));
  EXPECT_EQ(taut::parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT"), 1709164800);
}

// RFC 9110 section 5.6.7: an RFC 850 two-digit year up to 50 years ahead of this one is in the
// future; one more is the most recent past year with those digits.
TEST(HttpDate, TwoDigitYearsPivotOnTheCurrentYear) {
  using namespace std::chrono;
  const int current = static_cast<int>(year_month_day(floor<days>(system_clock::now())).year());
  const auto rfc850 = [](int full) {
    char text[40];
    std::snprintf(text, sizeof text, "Sunday, 01-Jan-%02d 00:00:00 GMT", full % 100);
    return std::string(text);
  };
  const auto seconds = [](int full) {
    return static_cast<std::int64_t>(
        sys_seconds(sys_days(year_month_day(year(full), January, day(1))))
            .time_since_epoch()
            .count());
  };
  for (const int full : {current - 49, current, current + 1, current + 50}) {
    EXPECT_EQ(taut::parse_http_date(rfc850(full)), seconds(full)) << rfc850(full) << " " << full;
  }
}

TEST(HttpDate, RoundTripsWithTheDateFormatter) {
  for (const std::int64_t seconds : {0LL, 784111777LL, 951782400LL, 1700000000LL, 4102444800LL}) {
    char text[30];
    taut::date_cache::format(seconds, text);
    EXPECT_EQ(taut::parse_http_date(std::string_view(text, 29)), seconds) << text;
  }
}

TEST(ByteRange, Parsing) {
  using kind = taut::byte_range::kind;
  auto r = taut::parse_byte_range("bytes=0-0", 1);
  EXPECT_EQ(r.result, kind::satisfiable);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 0u);
  r = taut::parse_byte_range(" bytes = 2 - 3 ", 10);
  EXPECT_EQ(r.result, kind::ignore);  // whitespace around '=' is not the syntax
  r = taut::parse_byte_range("Bytes=2-3", 10);
  EXPECT_EQ(r.result, kind::satisfiable);
  r = taut::parse_byte_range("bytes=9999999999999999999-", 10);
  EXPECT_EQ(r.result, kind::unsatisfiable);
}

TEST(ByteRange, AnEmptyRepresentationIsSentWholeForASuffixAndIs416ForAFirstPosition) {
  using kind = taut::byte_range::kind;
  // RFC 9110 14.1.1: a non-zero suffix-length is satisfiable even when the length is 0, but no
  // Content-Range can name a range of nothing: the field is ignored (200, empty body).
  EXPECT_EQ(taut::parse_byte_range("bytes=-5", 0).result, kind::ignore);
  EXPECT_EQ(taut::parse_byte_range("bytes=-1", 0).result, kind::ignore);
  // A first-pos is satisfiable only when less than the length, and a zero suffix never is.
  EXPECT_EQ(taut::parse_byte_range("bytes=0-", 0).result, kind::unsatisfiable);
  EXPECT_EQ(taut::parse_byte_range("bytes=0-0", 0).result, kind::unsatisfiable);
  EXPECT_EQ(taut::parse_byte_range("bytes=-0", 0).result, kind::unsatisfiable);
}

TEST(ByteRange, NumbersPast64BitsAreVeryLargeNotInvalid) {
  using kind = taut::byte_range::kind;
  const std::string huge = "99999999999999999999";  // 20 digits, past 2^64 - 1
  // A first-pos past any length: 416.
  for (const std::string& spec :
       {"bytes=" + huge + "-", "bytes=" + huge + "-" + huge + "9",
        std::string("bytes=18446744073709551615-"), std::string("bytes=18446744073709551616-")}) {
    EXPECT_EQ(taut::parse_byte_range(spec, 10).result, kind::unsatisfiable) << spec;
  }
  // A last-pos clamped to the end.
  auto r = taut::parse_byte_range("bytes=2-" + huge, 10);
  EXPECT_EQ(r.result, kind::satisfiable);
  EXPECT_EQ(r.first, 2u);
  EXPECT_EQ(r.last, 9u);
  // A suffix-length longer than the file: all of it.
  r = taut::parse_byte_range("bytes=-" + huge, 10);
  EXPECT_EQ(r.result, kind::satisfiable);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 9u);
  // Leading zeros do not make a number large.
  r = taut::parse_byte_range("bytes=0000000000000000000000002-00000000000000000000003", 10);
  EXPECT_EQ(r.result, kind::satisfiable);
  EXPECT_EQ(r.first, 2u);
  EXPECT_EQ(r.last, 3u);
  // A last-pos before the first-pos is still invalid when both are past 64 bits.
  EXPECT_EQ(taut::parse_byte_range("bytes=" + huge + "-" + huge.substr(1), 10).result,
            kind::ignore);
  EXPECT_EQ(taut::parse_byte_range("bytes=99999999999999999999-99999999999999999998", 10).result,
            kind::ignore);
  EXPECT_EQ(taut::parse_byte_range("bytes=99999999999999999998-099999999999999999999", 10).result,
            kind::unsatisfiable);
}

// --- list fields over several lines --------------------------------------------------------------

TEST_F(StaticFiles, IfNoneMatchOnTwoLinesIsOneList) {
  client c(app);
  const std::string etag(c.get("/static/hello.txt").header("ETag"));
  // One line "\"zz\", <etag>" and the same list over two lines mean the same (RFC 9110 5.3).
  auto r = c.send(request("GET", "/static/hello.txt").header("If-None-Match", "\"zz\", " + etag));
  EXPECT_EQ(r.status, 304);
  r = c.send(request("GET", "/static/hello.txt")
                 .header("If-None-Match", "\"zz\"")
                 .header("If-None-Match", etag));
  EXPECT_EQ(r.status, 304);
  EXPECT_EQ(r.body, "");
  r = c.send(request("GET", "/static/hello.txt")
                 .header("If-None-Match", "\"zz\"")
                 .header("If-None-Match", "\"yy\""));
  EXPECT_EQ(r.status, 200);
}

TEST_F(StaticFiles, IfMatchOnTwoLinesIsOneList) {
  client c(app);
  const std::string etag(c.get("/static/hello.txt").header("ETag"));
  auto r = c.send(
      request("GET", "/static/hello.txt").header("If-Match", "\"zz\"").header("If-Match", etag));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello, static");
  r = c.send(request("GET", "/static/hello.txt")
                 .header("If-Match", "\"zz\"")
                 .header("If-Match", "W/" + etag));
  EXPECT_EQ(r.status, 412);  // If-Match compares strongly: a weak tag never matches
  r = c.send(
      request("GET", "/static/hello.txt").header("If-Match", "\"zz\"").header("If-Match", "*"));
  EXPECT_EQ(r.status, 200);
}

// --- If-Range dates ------------------------------------------------------------------------------

/// The IMF-fixdate of `when`'s second.
std::string http_date(std::chrono::system_clock::time_point when) {
  char text[30];
  taut::date_cache::format(
      std::chrono::duration_cast<std::chrono::seconds>(when.time_since_epoch()).count(), text);
  return {text, 29};
}

TEST_F(StaticFiles, IfRangeDateOfAFileModifiedThisSecondIsNotHonoured) {
  // The file is rewritten in the second the response's Date names: its Last-Modified cannot tell
  // the two versions of that second apart, so it is a weak validator (RFC 9110 sections 8.8.2.2,
  // 13.1.5) and the range must not be applied on top of what the client may hold.
  client c(app);
  for (int attempt = 0; attempt < 5; ++attempt) {
    const auto now = std::chrono::system_clock::now();
    set_mtime(root / "digits.bin", now);
    const std::string modified = http_date(now);
    const auto r = c.send(request("GET", "/static/digits.bin")
                              .header("Range", "bytes=0-1")
                              .header("If-Range", modified));
    if (r.header("Date") != modified) continue;  // the second ended in between: try again
    EXPECT_EQ(r.header("Last-Modified"), modified);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "0123456789");
    return;
  }
  FAIL() << "the wall clock never stayed within one second for a request";
}

TEST_F(StaticFiles, IfRangeDateOfAFileModifiedInTheFutureIsNotHonoured) {
  // A file stamped ahead of the server's clock (copied from a machine whose clock runs fast).
  client c(app);
  const auto later = std::chrono::system_clock::now() + std::chrono::hours(1);
  set_mtime(root / "digits.bin", later);
  const auto r = c.send(request("GET", "/static/digits.bin")
                            .header("Range", "bytes=0-1")
                            .header("If-Range", http_date(later)));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "0123456789");
}

TEST_F(StaticFiles, IfRangeDateAtLeastASecondOldIsHonoured) {
  client c(app);
  const auto earlier = std::chrono::system_clock::now() - std::chrono::seconds(2);
  set_mtime(root / "digits.bin", earlier);
  const auto r = c.send(request("GET", "/static/digits.bin")
                            .header("Range", "bytes=2-3")
                            .header("If-Range", http_date(earlier)));
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "23");
}

}  // namespace
