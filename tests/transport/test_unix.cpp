// Unix domain sockets: paths (stale socket replaced, other files never deleted, live sockets in
// use, permission bits, removal on close), abstract names, and error values.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "privileges.hpp"
#include "transport_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using namespace taut::transport;
using taut::transport::testing::collecting_client;
using taut::transport::testing::echo_server;
using taut::transport::testing::make_loop;
using taut::transport::testing::pattern;
using taut::transport::testing::run_until;
using taut::transport::testing::temp_dir;

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

bool is_socket(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// Leaves a socket file behind with nobody listening, as a crashed server does.
void make_stale_socket(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  const address at = *address::unix_path(path);
  ASSERT_EQ(::bind(fd, at.sockaddr_data(), at.sockaddr_size()), 0);
  ::close(fd);
  ASSERT_TRUE(is_socket(path));
}

void expect_echo(event_loop& loop, listener&& server_side, const address& target) {
  echo_server server(loop);
  ASSERT_FALSE(server.start(std::move(server_side)));
  auto connected = connect(target);
  ASSERT_TRUE(connected) << connected.error().message();
  EXPECT_EQ(connected->kind(), transport_kind::unix_socket);
  collecting_client client(std::move(*connected), pattern(200000), true);
  ASSERT_FALSE(client.start(loop));
  ASSERT_TRUE(run_until(
      loop, [&] { return client.done(); }, 10000ms));
  EXPECT_FALSE(client.error()) << client.error().message();
  EXPECT_TRUE(client.received() == pattern(200000));
}

std::string unique_abstract_name(const char* what) {
  static int counter = 0;
  return "@taut-test-" + std::string(what) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(++counter);
}

TEST(UnixPath, EchoThroughTheLoop) {
  temp_dir dir;
  auto loop = make_loop();
  const std::string path = dir.file("echo.sock");
  auto server = listener::listen(path);
  ASSERT_TRUE(server) << server.error().message();
  EXPECT_EQ(server->kind(), transport_kind::unix_socket);
  EXPECT_EQ(server->local_address().path(), path);
  EXPECT_TRUE(is_socket(path));
  const address target = server->local_address();
  expect_echo(*loop, std::move(*server), target);
}

TEST(UnixPath, UnixPrefixAndRelativePaths) {
  temp_dir dir;
  auto server = listener::listen("unix:" + dir.file("prefixed.sock"));
  ASSERT_TRUE(server);
  EXPECT_TRUE(is_socket(dir.file("prefixed.sock")));
}

TEST(UnixPath, AStaleSocketIsReplaced) {
  temp_dir dir;
  const std::string path = dir.file("stale.sock");
  make_stale_socket(path);
  auto loop = make_loop();
  auto server = listener::listen(path);
  ASSERT_TRUE(server) << server.error().message();
  const address target = server->local_address();
  expect_echo(*loop, std::move(*server), target);
}

TEST(UnixPath, AStaleSocketIsKeptWhenReplacingIsOff) {
  temp_dir dir;
  const std::string path = dir.file("stale.sock");
  make_stale_socket(path);
  listen_options options;
  options.replace_stale_socket = false;
  auto server = listener::listen(path, options);
  ASSERT_FALSE(server);
  EXPECT_EQ(server.error(), std::errc::address_in_use);
  EXPECT_TRUE(is_socket(path));
}

TEST(UnixPath, ARegularFileIsNeverDeleted) {
  temp_dir dir;
  const std::string path = dir.file("precious.txt");
  {
    std::ofstream file(path);
    file << "do not delete";
  }
  auto server = listener::listen(path);
  ASSERT_FALSE(server);
  EXPECT_EQ(server.error(), errc::not_a_socket_file);
  EXPECT_EQ(server.error(), std::errc::file_exists);
  std::ifstream file(path);
  std::string content;
  std::getline(file, content);
  EXPECT_EQ(content, "do not delete");
}

TEST(UnixPath, ADirectoryOrASymlinkToASocketIsNeverDeleted) {
  temp_dir dir;
  const std::string directory = dir.file("a-directory");
  ASSERT_EQ(::mkdir(directory.c_str(), 0700), 0);
  EXPECT_EQ(listener::listen(directory).error(), errc::not_a_socket_file);
  EXPECT_TRUE(exists(directory));

  // A symlink is not a socket, even if it points at one: following it would let whoever can
  // write the directory point the server at any socket on the system.
  const std::string target = dir.file("real.sock");
  make_stale_socket(target);
  const std::string link = dir.file("link.sock");
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  EXPECT_EQ(listener::listen(link).error(), errc::not_a_socket_file);
  EXPECT_TRUE(exists(link));
  EXPECT_TRUE(is_socket(target));
}

TEST(UnixPath, ALiveSocketIsAddressInUse) {
  temp_dir dir;
  const std::string path = dir.file("live.sock");
  auto first = listener::listen(path);
  ASSERT_TRUE(first);
  auto second = listener::listen(path);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), std::errc::address_in_use);
  // The live server still owns its file and still accepts.
  EXPECT_TRUE(is_socket(path));
  auto client = connect(first->local_address());
  ASSERT_TRUE(client);
  auto loop = make_loop();
  EXPECT_TRUE(run_until(*loop, [&] { return first->accept().has_value(); }));
}

TEST(UnixPath, ModeBitsAreApplied) {
  temp_dir dir;
  for (const int mode : {0600, 0660, 0666, 0700}) {
    const std::string path = dir.file("mode-" + std::to_string(mode) + ".sock");
    listen_options options;
    options.unix_mode = mode;
    auto server = listener::listen(path, options);
    ASSERT_TRUE(server) << server.error().message();
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, static_cast<mode_t>(mode)) << std::oct << mode;
  }
}

TEST(UnixPath, TheSocketFileIsRemovedOnCloseUnlessAskedNotTo) {
  temp_dir dir;
  const std::string path = dir.file("owned.sock");
  {
    auto server = listener::listen(path);
    ASSERT_TRUE(server);
    auto copy = server->duplicate();
    ASSERT_TRUE(copy);
    ASSERT_FALSE(copy->close());
    EXPECT_TRUE(is_socket(path)) << "a duplicate never removes the file";
  }
  EXPECT_FALSE(exists(path));

  listen_options keep;
  keep.unlink_on_close = false;
  {
    auto server = listener::listen(path, keep);
    ASSERT_TRUE(server);
  }
  EXPECT_TRUE(is_socket(path));
}

TEST(UnixPath, CloseLeavesAFileThatReplacedOurs) {
  temp_dir dir;
  const std::string path = dir.file("replaced.sock");
  auto old_server = listener::listen(path);
  ASSERT_TRUE(old_server);
  ASSERT_EQ(::unlink(path.c_str()), 0);  // e.g. a new server instance took over the path
  auto new_server = listener::listen(path);
  ASSERT_TRUE(new_server);
  ASSERT_FALSE(old_server->close());
  EXPECT_TRUE(is_socket(path)) << "the old listener must not remove the new one's socket";
}

TEST(UnixPath, DuplicatesAcceptFromTheSameSocket) {
  temp_dir dir;
  auto server = listener::listen(dir.file("dup.sock"));
  ASSERT_TRUE(server);
  auto copy = server->duplicate();
  ASSERT_TRUE(copy);
  EXPECT_NE(copy->native_handle(), server->native_handle());
  auto client1 = connect(server->local_address());
  auto client2 = connect(server->local_address());
  ASSERT_TRUE(client1 && client2);
  EXPECT_TRUE(copy->accept().has_value());
  EXPECT_TRUE(server->accept().has_value());
}

TEST(UnixPath, AcceptedStreamsKnowTheirAddresses) {
  temp_dir dir;
  const std::string path = dir.file("names.sock");
  auto server = listener::listen(path);
  ASSERT_TRUE(server);
  auto client = connect(server->local_address());
  ASSERT_TRUE(client);
  auto accepted = server->accept();
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->local_address()->to_string(), path);
  EXPECT_EQ(accepted->peer_address()->to_string(), "unix:(unnamed)");
  EXPECT_EQ(client->peer_address()->path(), path);
  EXPECT_EQ(accepted->set_no_delay(true), errc::not_supported);
}

TEST(UnixPath, ErrorValues) {
  temp_dir dir;
  auto missing_dir = listener::listen(dir.file("no/such/dir.sock"));
  ASSERT_FALSE(missing_dir);
  EXPECT_EQ(missing_dir.error(), std::errc::no_such_file_or_directory);
  EXPECT_EQ(listener::listen("/" + std::string(200, 'x')).error(), errc::path_too_long);
  auto nobody_there = connect(*address::unix_path(dir.file("nobody.sock")));
  ASSERT_FALSE(nobody_there);
  EXPECT_EQ(nobody_there.error(), std::errc::no_such_file_or_directory);
}

TEST(UnixPath, PermissionDeniedIsAnErrorValue) {
  if (!taut::transport::testing::can_drop_privileges()) {
    GTEST_SKIP() << "running as root without the right to switch users: root bypasses file "
                    "permissions, so there is nothing to test";
  }
  temp_dir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  const std::string read_only = dir.file("read-only");
  ASSERT_EQ(::mkdir(read_only.c_str(), 0555), 0);
  const std::string path = read_only + "/denied.sock";
  EXPECT_EXIT(
      {
        if (!taut::transport::testing::drop_privileges()) {
          std::fprintf(stderr, "could not drop privileges\n");
          std::_Exit(2);
        }
        auto denied = listener::listen(path);
        if (denied) {
          std::fprintf(stderr, "listen succeeded in a read-only directory\n");
          std::_Exit(3);
        }
        if (denied.error() != std::errc::permission_denied) {
          std::fprintf(stderr, "wrong error: %s\n", denied.error().message().c_str());
          std::_Exit(4);
        }
        std::fprintf(stderr, "permission denied as expected\n");
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "permission denied as expected");
  EXPECT_FALSE(exists(path));
}

TEST(UnixAbstract, EchoThroughTheLoop) {
  auto loop = make_loop();
  const std::string name = unique_abstract_name("echo");
  auto server = listener::listen(name);
  ASSERT_TRUE(server) << server.error().message();
  EXPECT_TRUE(server->local_address().is_abstract());
  EXPECT_EQ(server->local_address().to_string(), name);
  EXPECT_FALSE(exists(name.substr(1)));  // no file anywhere
  const address target = server->local_address();
  expect_echo(*loop, std::move(*server), target);
}

TEST(UnixAbstract, ATakenNameIsAddressInUseAndFreedOnClose) {
  const std::string name = unique_abstract_name("taken");
  auto first = listener::listen(name);
  ASSERT_TRUE(first);
  auto second = listener::listen(name);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), std::errc::address_in_use);
  ASSERT_FALSE(first->close());
  EXPECT_TRUE(listener::listen(name)) << "the kernel frees an abstract name with its socket";
}

TEST(UnixAbstract, ModeBitsDoNotApply) {
  listen_options options;
  options.unix_mode = 0600;
  EXPECT_EQ(listener::listen(unique_abstract_name("mode"), options).error(), errc::not_supported);
}

}  // namespace
