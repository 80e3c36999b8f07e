#include "nginx_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "taut/transport.hpp"

namespace taut::test {
namespace {

std::string replace_all(std::string text, std::string_view what, std::string_view with) {
  for (std::size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + with.size())) {
    text.replace(at, what.size(), with);
  }
  return text;
}

}  // namespace

nginx_process::nginx_process(std::string_view server_block, const std::vector<file_copy>& files) {
  for (const char* candidate : {"/usr/sbin/nginx", "/usr/bin/nginx"}) {
    if (::access(candidate, X_OK) == 0) binary_ = candidate;
  }
  if (binary_.empty()) return;
  if (!start(server_block, files)) return;
  // Ready once it accepts (at most 5 s).
  for (int i = 0; i < 100 && !ready_; ++i) {
    auto at = transport::address::parse_tcp("127.0.0.1:" + std::to_string(port_)).value();
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ready_ = ::connect(fd, at.sockaddr_data(), at.sockaddr_size()) == 0;
    ::close(fd);
    if (!ready_) ::usleep(50000);
  }
}

bool nginx_process::start(std::string_view server_block, const std::vector<file_copy>& files) {
  char dir[] = "/tmp/taut-nginx-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return false;
  prefix_ = dir;
  ::chmod(prefix_.c_str(), 0755);
  for (const file_copy& file : files) {
    const std::string target = prefix_ + "/" + file.name;
    const std::string copy =
        "cp '" + file.source + "' '" + target + "' && chmod 644 '" + target + "'";
    if (std::system(copy.c_str()) != 0) return false;
  }
  auto probe = transport::listener::listen("127.0.0.1:0").value();
  port_ = probe.port();
  (void)probe.close();

  const std::string& p = prefix_;
  const std::string conf_text =
      std::string(::geteuid() == 0 ? "user nobody nogroup;" : "") +
      "\nworker_processes 1;\ndaemon off;\nmaster_process off;\npid " + p + "/nginx.pid;\n" +
      "error_log " + p + "/error.log warn;\nevents { worker_connections 256; }\n" +
      "http {\n access_log off;\n client_body_temp_path " + p + "/body;\n proxy_temp_path " + p +
      "/proxy;\n fastcgi_temp_path " + p + "/fastcgi;\n uwsgi_temp_path " + p +
      "/uwsgi;\n scgi_temp_path " + p + "/scgi;\n server {\n" +
      replace_all(replace_all(std::string(server_block), "@port@", std::to_string(port_)),
                  "@prefix@", p) +
      " }\n}\n";
  const std::string conf = p + "/nginx.conf";
  std::FILE* f = std::fopen(conf.c_str(), "w");
  if (f == nullptr) return false;
  const bool written = std::fwrite(conf_text.data(), 1, conf_text.size(), f) == conf_text.size();
  if (std::fclose(f) != 0 || !written) return false;

  pid_ = ::fork();
  if (pid_ == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execl(binary_.c_str(), binary_.c_str(), "-p", p.c_str(), "-c", conf.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid_ > 0;
}

nginx_process::~nginx_process() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (!prefix_.empty()) {
    const std::string cleanup = "rm -rf '" + prefix_ + "'";
    (void)std::system(cleanup.c_str());
  }
}

std::string nginx_process::base(std::string_view scheme, std::string_view host) const {
  return std::string(scheme) + "://" + std::string(host) + ":" + std::to_string(port_);
}

}  // namespace taut::test
