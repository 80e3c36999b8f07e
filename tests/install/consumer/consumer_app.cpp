// Uses the installed taut::app with taut::testing: a mux route answered through the in-memory
// client, as a handler test would be written. Prints "app+testing: <status> <body>".
#include <cstdio>
#include <string>

#include <taut/mux.hpp>
#include <taut/testing.hpp>

int main() {
  taut::mux app;
  app.handle("GET /hello/{name}", [](taut::request_context& req, taut::reply& res) {
    res.text(200, "Hello, " + std::string(req.param("name")) + "!");
  });
  taut::testing::client client(app);
  const auto response = client.get("/hello/Ada");
  std::printf("app+testing: %d %s\n", response.status, response.body.c_str());
  return 0;
}
